"""Device drivers: each protocol a pure codec, under a thin transport that owns the port.

Drivers know hardware and nothing of verdicts. Every device kind implements `drivers.base.Device`
and reports `drivers.events` models; the agent runs them and never sees a byte.
"""
