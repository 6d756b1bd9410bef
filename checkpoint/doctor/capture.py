"""`checkpoint doctor --capture PORT`: record what a serial device says, for decoding here or back home.

The port is read for `seconds` at the speed given, or, when none is, at each usual speed in turn
(the time shared between them), so a module whose speed nobody knows still leaves a usable file.
Devices that only answer requests are asked every half second: by default with the request of every
protocol the drivers know (the same ones `doctor`'s port scan sends), or with `send` (hex) for a
device of another kind. Both directions are recorded with their times (drivers/serial_capture.py);
`checkpoint idcard parse @FILE` and `checkpoint thermo parse --protocol auto @FILE` decode the file.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import serial

from checkpoint.doctor.probes import all_probes
from drivers.serial_capture import Capture, Chunk

USUAL_BAUDS = (115200, 57600, 38400, 19200, 9600)
ASK_EVERY_S = 0.5


def requests() -> list[bytes]:
    """The request of every known protocol (ID-card module status, each thermometer's poll)."""
    return list(dict.fromkeys(p.request for p in all_probes() if p.request))


def record(port: str, seconds: float, baud: int | None = None, send: list[bytes] | None = None) -> Capture:
    """Read `port` for `seconds` (shared between the usual speeds when `baud` is None)."""
    bauds = [baud] if baud else list(USUAL_BAUDS)
    asks = requests() if send is None else send
    capture = Capture(port=port, started=datetime.now(UTC))
    start = time.monotonic()
    for i, speed in enumerate(bauds):
        until = start + seconds * (i + 1) / len(bauds)
        with serial.Serial(port, speed, timeout=0.02, write_timeout=1.0, exclusive=True) as link:
            link.reset_input_buffer()
            next_ask = time.monotonic()
            while (now := time.monotonic()) < until:
                if asks and now >= next_ask:
                    for request in asks:
                        link.write(request)
                        capture.chunks.append(Chunk(t=time.monotonic() - start, dir="tx", baud=speed, data=request))
                    next_ask = now + ASK_EVERY_S
                data = link.read(link.in_waiting or 1)
                if data:
                    capture.chunks.append(Chunk(t=time.monotonic() - start, dir="rx", baud=speed, data=data))
    return capture
