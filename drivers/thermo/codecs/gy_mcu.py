"""GY-MCU90614 / GY-MCU90615 boards: an MLX9061x thermopile behind a small MCU with a UART.

Theory of operation: the host sends 3-byte commands `A5 cmd sum` (sum = low byte of A5 + cmd):
`A5 45 EA` makes the board stream readings continuously, `A5 15 BA` asks for one. Every reply is
`5A 5A type len data… sum` with sum the low byte of all bytes before it; a temperature reply has type
45 and four data bytes: object then ambient, each signed 16-bit big-endian in 0.01 °C. We cut frames by
their length byte and resynchronise on `5A 5A` (the hunt is `framing.HeaderFramedCodec`'s); frames of
other types carry no reading and are ignored.

Written from the GY-MCU90614 module manual (UART protocol table and its example
`5A 5A 45 04 0C 78 0D 19 A7` = 31.92 / 33.53 °C) as summarised in docs/protocols.md §2.1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from drivers.thermo.codecs.base import Decoded
from drivers.thermo.codecs.framing import HeaderFramedCodec, int16, int16_bytes

HEADER = b"\x5a\x5a"
TEMPERATURE = 0x45
MAX_DATA = 8  # longest data field we wait for (other GY-MCU boards send up to 8); more is noise


def command(cmd: int) -> bytes:
    return bytes((0xA5, cmd, (0xA5 + cmd) & 0xFF))


STREAM, QUERY = command(0x45), command(0x15)


class GyMcuOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["query", "stream"] = "query"  # query: one reading per poll, at our pace


def encode_reading(object_c: float, ambient_c: float) -> bytes:
    """The board's temperature reply (device side; for the simulator and tests)."""
    body = HEADER + bytes((TEMPERATURE, 4)) + int16_bytes(object_c, 100) + int16_bytes(ambient_c, 100)
    return body + bytes((sum(body) & 0xFF,))


class GyMcuCodec(HeaderFramedCodec):
    protocol = "gy-mcu"
    header = HEADER
    mismatch = "checksum mismatch"
    options: GyMcuOptions

    def start_request(self) -> bytes:
        return STREAM if self.options.mode == "stream" else b""

    def poll_request(self) -> bytes | None:
        return QUERY if self.options.mode == "query" else None

    def _size(self, prefix: bytes) -> int | None:
        return 5 + prefix[3] if prefix[3] <= MAX_DATA else None

    def _is_reading(self, frame: bytes) -> bool:
        return frame[2] == TEMPERATURE and frame[3] == 4

    def _intact(self, frame: bytes) -> bool:
        return sum(frame[:-1]) & 0xFF == frame[-1]

    def _decode(self, frame: bytes) -> Decoded:
        return Decoded(object_c=int16(frame, 4) / 100, ambient_c=int16(frame, 6) / 100)
