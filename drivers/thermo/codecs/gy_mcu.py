"""GY-MCU90614 / GY-MCU90615 boards: an MLX9061x thermopile behind a small MCU with a UART.

Theory of operation: the host sends 3-byte commands `A5 cmd sum` (sum = low byte of A5 + cmd):
`A5 45 EA` makes the board stream readings continuously, `A5 15 BA` asks for one. Every reply is
`5A 5A type len data… sum` with sum the low byte of all bytes before it; a temperature reply has type
45 and four data bytes: object then ambient, each signed 16-bit big-endian in 0.01 °C. We cut frames by
their length byte and resynchronise on `5A 5A`: a frame of the temperature shape with a bad sum is
rejected whole; any other bad candidate is line noise and we hunt on from the next byte. Well-formed
frames of other types carry no reading and are ignored.

Written from the GY-MCU90614 module manual (UART protocol table and its example
`5A 5A 45 04 0C 78 0D 19 A7` = 31.92 / 33.53 °C) as summarised in protocols.md §2.
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
    body = HEADER + bytes((TEMPERATURE, 4)) + _centi(object_c) + _centi(ambient_c)
    return body + bytes((sum(body) & 0xFF,))


def _centi(celsius: float) -> bytes:
    return round(celsius * 100).to_bytes(2, "big", signed=True)


class GyMcuCodec(Codec):
    protocol = "gy-mcu"

    def __init__(self, options: GyMcuOptions) -> None:
        super().__init__()
        self.options = options

    def start_request(self) -> bytes:
        return STREAM if self.options.mode == "stream" else b""

    def poll_request(self) -> bytes | None:
        return QUERY if self.options.mode == "query" else None

    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        if not buf.startswith(HEADER[: len(buf) - pos], pos):
            return skip_to(buf, pos, HEADER)
        if len(buf) - pos < 4:
            return NEED_MORE
        kind, length = buf[pos + 2], buf[pos + 3]
        if length > MAX_DATA:
            return 1, GARBAGE
        size = 5 + length
        if len(buf) - pos < size:
            return NEED_MORE
        frame = buf[pos : pos + size]
        temperature = kind == TEMPERATURE and length == 4
        if sum(frame[:-1]) & 0xFF != frame[-1]:
            return (size, Rejected("checksum mismatch")) if temperature else (1, GARBAGE)
        if not temperature:
            return size, IGNORED
        return size, Decoded(
            object_c=int.from_bytes(frame[4:6], "big", signed=True) / 100,
            ambient_c=int.from_bytes(frame[6:8], "big", signed=True) / 100,
        )
