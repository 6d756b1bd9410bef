"""Fuzz the CKHC1 health-code payload (agent/healthcode/signed_format.py) and the verifier chain.

The first byte picks the mode. Text mode: the rest, as text (undecodable bytes become lone
surrogates), is a scanned payload, with the `CKHC1:` prefix added when the byte is odd. Signed mode:
the rest is a claims JSON that this target signs with an issuer key the chain trusts, so the fuzzer
reaches the checks behind the signature. Contract checked: `decode` raises only `SignedCodeError`;
the chain (signed payload, then screen colour; no online lookup) always answers a `CodeStatus`; a
status from a payload whose signature did not check is never trusted.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from fuzz._harness import instrumented, main

with instrumented():
    from agent.healthcode.chain import HealthCodeSettings, build_chain
    from agent.healthcode.keys import generate_key, public_key_text
    from agent.healthcode.signed_format import (
        PREFIX,
        Claims,
        NucleicAcidTest,
        SignedCodeError,
        decode,
        encode,
    )
    from agent.healthcode.status import CodeStatus
    from contract.messages import CodeColour, ColourSource

NAME = "fuzz_healthcode"
NOW = datetime(2022, 5, 1, 8, 0, tzinfo=UTC)
KEY = generate_key()
CHAIN = build_chain(HealthCodeSettings(issuer_keys={"hc-test": [public_key_text(KEY)]}))
COLOURS = list(CodeColour)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def signed_payload(claims_json: bytes) -> str:
    """A payload carrying these exact claim bytes, with a good signature by the trusted key."""
    return f"{PREFIX}{_b32(claims_json)}.{_b32(KEY.sign(PREFIX.encode() + claims_json))}"


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0], data[1:]
    if mode >= 0xC0:
        text = signed_payload(rest)
    else:
        text = ("" if mode % 2 else PREFIX) + rest.decode("utf-8", "surrogateescape")
    try:
        signed = decode(text)
    except SignedCodeError:
        signed = None
    status = CHAIN.verify(text, COLOURS[mode % len(COLOURS)], NOW)
    assert isinstance(status, CodeStatus)
    if status.source is ColourSource.SIGNED_PAYLOAD and status.trusted:
        assert signed is not None, "a payload decode() refuses was trusted"
        KEY.public_key().verify(signed.signature, signed.signed_bytes)  # InvalidSignature is a finding


def seeds() -> list[bytes]:
    claims = Claims(iss="hc-test", sub="0123456789abcdef", col="green", iat=1651300000, exp=1651500000,
                    nat=NucleicAcidTest(at=1651200000, res="negative"), vac=3)
    good = encode(claims, KEY)
    body = good[len(PREFIX) :].partition(".")[0]
    claims_json = base64.b32decode(body + "=" * (-len(body) % 8))
    return [b"\x00" + good[len(PREFIX) :].encode(), b"\x01https://hc.example/c/abc", b"\xc0" + claims_json,
            b"\xc1" + claims_json.replace(b"green", b"red"), b"\x02" + b"A" * 300 + b"." + b"B" * 103]


if __name__ == "__main__":
    main(NAME, one_input, seeds)
