"""Device drivers: each protocol a pure codec, under a thin transport that owns the port.

Drivers know hardware and nothing of verdicts. Every device kind implements `drivers.base.Device`
and reports `drivers.base` models; the agent runs them and never sees a byte.
"""
