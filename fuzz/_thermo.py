"""The one fuzz target every thermometer codec family shares; `fuzz_thermo_<family>.py` names it.

Contract checked, per family: `feed` raises nothing and returns only `RawReading`s and `FrameError`s;
it holds back at most one incomplete frame (`MAX_HELD`); it makes at most one event per byte; the
readings found do not depend on how the stream was cut into chunks; a reading is a finite number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fuzz._harness import instrumented, pieces

with instrumented():
    from drivers.thermo.codecs import FAMILIES, FrameError, aa_a5, ascii_line, gy_mcu, modbus
    from drivers.thermo.events import RawReading

AT = datetime(2024, 1, 1, tzinfo=UTC)
MAX_HELD = {"gy-mcu": 5 + gy_mcu.MAX_DATA, "aa-a5": 3 + 255, "modbus": 7, "ascii": ascii_line.AsciiOptions().max_line}


def _readings(events: list[RawReading | FrameError]) -> list[tuple[float, float | None, bytes]]:
    return [(e.object_c, e.ambient_c, e.raw) for e in events if isinstance(e, RawReading)]


def target(family: str) -> Callable[[bytes], None]:
    def one_input(data: bytes) -> None:
        codec = FAMILIES[family].make()
        events: list[RawReading | FrameError] = []
        for n, chunk in enumerate(pieces(data)):
            held = codec.pending
            got = codec.feed(chunk, AT + timedelta(milliseconds=n))
            assert all(isinstance(e, RawReading | FrameError) for e in got), got
            assert len(got) <= held + len(chunk) + 1, "more events than bytes"
            assert codec.pending <= MAX_HELD[family], f"{codec.pending} bytes held back"
            events += got
        assert all(math.isfinite(e.object_c) for e in events if isinstance(e, RawReading))
        whole = FAMILIES[family].make().feed(b"".join(pieces(data)), AT)
        assert _readings(whole) == _readings(events), "the readings depend on the chunking"

    return one_input


def seeds_for(family: str) -> list[bytes]:
    frames = {
        "gy-mcu": [gy_mcu.encode_reading(36.5, 25.0), gy_mcu.STREAM, b"\x5a\x5a\x15\x01\x00\xca"],
        "aa-a5": [aa_a5.encode_reading(36.5, 25.0), aa_a5.frame(aa_a5.SET_TARGET, b"\x02")],
        "modbus": [modbus.encode_reading(modbus.ModbusOptions(), 36.5), bytes.fromhex("0183028d30")],
        "ascii": [ascii_line.encode_reading(36.5, 25.0, "T:{object:.2f} A:{ambient:.2f}\r\n"), b"T=37\n"],
    }[family]
    return [b"\x00" + b"".join(frames), b"\x81" + b"noise" + frames[0] * 3, b"\x00" + frames[0][:-1] + frames[0]]
