"""`AA A5 … 55` framed infrared modules (38400 8N1), the common "forehead module" boards.

Theory of operation: every frame in both directions is `AA A5 LEN CMD ARGS… CHK 55` with
LEN = 3 + the number of args (so a frame is LEN + 3 bytes) and CHK = (LEN + CMD + args) & FF.
Commands: 01 measure, 02 set target (arg 01 object, 02 body), 03/04 low/high black-body calibration.
The measure reply's args are the target, then object and ambient temperature, each 16-bit big-endian
in 0.1 °C (read as signed: outdoors in winter the ambient goes below zero). We hunt for `AA A5`, cut by
LEN and require CHK and the `55` tail (the hunt is `framing.HeaderFramedCodec`'s). Other intact replies
(the answer to "set target") carry no reading and are ignored.

In body mode the module applies its own forehead-to-body estimate; the per-device offset then
corrects what is left. Written from the module's serial protocol sheet as summarised in docs/protocols.md §2.2
(example: measure `AA A5 03 01 04 55`, 36.5 / 25.0 °C reply `AA A5 08 01 02 01 6D 00 FA 73 55`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from drivers.thermo.codecs.base import Decoded
from drivers.thermo.codecs.framing import HeaderFramedCodec, int16, int16_bytes

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
    return frame(MEASURE, bytes((TARGETS[target],)) + int16_bytes(object_c, 10) + int16_bytes(ambient_c, 10))


class AaA5Codec(HeaderFramedCodec):
    protocol = "aa-a5"
    header = HEADER
    mismatch = "checksum or tail mismatch"
    options: AaA5Options

    def start_request(self) -> bytes:
        return frame(SET_TARGET, bytes((TARGETS[self.options.target],)))

    def poll_request(self) -> bytes:
        return frame(MEASURE)

    def _size(self, prefix: bytes) -> int | None:
        return prefix[2] + 3 if prefix[2] >= 3 else None

    def _is_reading(self, whole: bytes) -> bool:
        return whole[3] == MEASURE and whole[2] == 8

    def _intact(self, whole: bytes) -> bool:
        return whole[-1] == TAIL and sum(whole[2:-2]) & 0xFF == whole[-2]

    def _decode(self, whole: bytes) -> Decoded:
        return Decoded(object_c=int16(whole, 5) / 10, ambient_c=int16(whole, 7) / 10)
