"""Health-code payloads: what a scanned code says and who vouches for it.

Interpreting a payload is not hardware, so it lives in the agent: drivers/camera reports the text and
the screen colour (`CodeScanned`); `build_chain(settings).verify(text, colour)` gives a `CodeStatus`
whose `source` says which verifier decided (signed payload > online lookup > screen colour).
"""
