"""`AA A5 … 55` framed infrared modules (38400 8N1), the common "forehead module" boards.

Theory of operation: every frame in both directions is `AA A5 LEN CMD ARGS… CHK 55` with
LEN = 3 + the number of args (so a frame is LEN + 3 bytes) and CHK = (LEN + CMD + args) & FF.
Commands: 01 measure, 02 set target (arg 01 object, 02 body), 03/04 low/high black-body calibration.
The measure reply's args are the target, then object and ambient temperature, each 16-bit big-endian
in 0.1 °C (read as signed: outdoors in winter the ambient goes below zero). We hunt for `AA A5`, cut by
LEN, and require CHK and the `55` tail: a frame that fails them is rejected whole if it has the shape
of a measure reply, otherwise its first byte is line noise. Other well-formed replies (the answer to
"set target") carry no reading and are ignored.

In body mode the module applies its own forehead-to-body estimate; the per-device offset then
corrects what is left. Written from the module's serial protocol sheet as summarised in protocols.md §2
(example: measure `AA A5 03 01 04 55`, 36.5 / 25.0 °C reply `AA A5 08 01 02 01 6D 00 FA 73 55`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from drivers.thermo.codecs.base import (
    GARBAGE,
    IGNORED,
    NEED_MORE,
    Codec,
    Decoded,
    Outcome,
    Rejected,
    skip_to,
)

HEADER, TAIL = b"\xaa\xa5", 0x55
MEASURE, SET_TARGET = 0x01, 0x02
TARGETS = {"object": 0x01, "body": 0x02}


def frame(cmd: int, args: bytes = b"") -> bytes:
    """One frame, either direction: `AA A5 LEN CMD ARGS CHK 55`."""
    length = 3 + len(args)
    return HEADER + bytes((length, cmd)) + args + bytes(((length + cmd + sum(args)) & 0xFF, TAIL))


class AaA5Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Literal["body", "object"] = "body"  # sent once after the port opens


def encode_reading(object_c: float, ambient_c: float, target: str = "body") -> bytes:
    """The module's measure reply (device side; for the simulator and tests)."""
    return frame(MEASURE, bytes((TARGETS[target],)) + _deci(object_c) + _deci(ambient_c))


def _deci(celsius: float) -> bytes:
    return round(celsius * 10).to_bytes(2, "big", signed=True)


class AaA5Codec(Codec):
    protocol = "aa-a5"

    def __init__(self, options: AaA5Options) -> None:
        super().__init__()
        self.options = options

    def start_request(self) -> bytes:
        return frame(SET_TARGET, bytes((TARGETS[self.options.target],)))

    def poll_request(self) -> bytes:
        return frame(MEASURE)

    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        if not buf.startswith(HEADER[: len(buf) - pos], pos):
            return skip_to(buf, pos, HEADER)
        if len(buf) - pos < 4:
            return NEED_MORE
        length, cmd = buf[pos + 2], buf[pos + 3]
        if length < 3:
            return 1, GARBAGE
        size = length + 3
        if len(buf) - pos < size:
            return NEED_MORE
        whole = buf[pos : pos + size]
        reading = cmd == MEASURE and length == 8
        if whole[-1] != TAIL or sum(whole[2:-2]) & 0xFF != whole[-2]:
            return (size, Rejected("checksum or tail mismatch")) if reading else (1, GARBAGE)
        if not reading:
            return size, IGNORED
        return size, Decoded(
            object_c=int.from_bytes(whole[5:7], "big", signed=True) / 10,
            ambient_c=int.from_bytes(whole[7:9], "big", signed=True) / 10,
        )
