"""The device side of each protocol family, as the simulator plays it.

A `DeviceModel` says which requests the device understands and what each does (answer with a
reading, start streaming, or send fixed bytes back), how it frames a reading, and how a frame looks
with its checksum broken. Requests are recognised byte for byte, as the small MCUs on these boards do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.thermo.codecs import aa_a5, ascii_line, gy_mcu, modbus

Action = Literal["reading", "stream"] | bytes


@dataclass(frozen=True)
class DeviceModel:
    requests: dict[bytes, Action]
    frame: Callable[[float, float], bytes]  # (object, ambient) -> one reading frame
    corrupt: Callable[[bytes], bytes]  # the same frame with a wrong checksum
    streams_at_power_on: bool

    def take(self, buf: bytes) -> tuple[list[Action], bytes]:
        """Pull the requests out of `buf`; returns the actions and what to keep for later."""
        actions: list[Action] = []
        while buf:
            request = next((r for r in self.requests if buf.startswith(r)), None)
            if request is not None:
                actions.append(self.requests[request])
                buf = buf[len(request):]
            elif any(r.startswith(buf) for r in self.requests):
                break  # the start of a request: wait for the rest
            else:
                buf = buf[1:]  # not a request this device knows: ignored
        return actions, buf


def _flip(index: int) -> Callable[[bytes], bytes]:
    def corrupt(frame: bytes) -> bytes:
        broken = bytearray(frame)
        broken[index] ^= 0x01
        return bytes(broken)
    return corrupt


def _garble_line(line: bytes) -> bytes:
    return line.replace(b":", b"?", 1)  # a text line has no checksum: a mangled line plays its part


def _gy_mcu(options: gy_mcu.GyMcuOptions, _line_format: str) -> DeviceModel:
    return DeviceModel({gy_mcu.QUERY: "reading", gy_mcu.STREAM: "stream"}, gy_mcu.encode_reading,
                       _flip(-1), streams_at_power_on=False)


def _aa_a5(options: aa_a5.AaA5Options, _line_format: str) -> DeviceModel:
    requests: dict[bytes, Action] = {aa_a5.frame(aa_a5.MEASURE): "reading"}
    for target in aa_a5.TARGETS.values():  # "set target" is acknowledged by echoing it
        echo = aa_a5.frame(aa_a5.SET_TARGET, bytes((target,)))
        requests[echo] = echo
    return DeviceModel(requests, lambda o, a: aa_a5.encode_reading(o, a, options.target), _flip(-2),
                       streams_at_power_on=False)


def _modbus(options: modbus.ModbusOptions, _line_format: str) -> DeviceModel:
    return DeviceModel({modbus.ModbusCodec(options).poll_request(): "reading"},
                       lambda o, _a: modbus.encode_reading(options, o), _flip(-1), streams_at_power_on=False)


def _ascii(options: ascii_line.AsciiOptions, line_format: str) -> DeviceModel:
    requests: dict[bytes, Action] = {options.request.encode("ascii"): "reading"} if options.request else {}
    return DeviceModel(requests, lambda o, a: ascii_line.encode_reading(o, a, line_format), _garble_line,
                       streams_at_power_on=not options.request)


MODELS: dict[str, Callable[[Any, str], DeviceModel]] = {
    "gy-mcu": _gy_mcu, "aa-a5": _aa_a5, "modbus": _modbus, "ascii": _ascii,
}
