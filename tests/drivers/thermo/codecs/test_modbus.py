from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pymodbus.framer import FramerRTU

from drivers.thermo.codecs.modbus import ModbusCodec, ModbusOptions, encode_reading
from tests.drivers.thermo.codecs.vectors import decode

REPLY = "01 03 02 01 6D 78 39"  # docs/protocols.md §2.3: 36.5 °C

REPLIES = [
    (ModbusOptions(), REPLY, [("reading", 36.5, None)]),
    (ModbusOptions(), "01 03 02 FF E0 F8 3C", [("reading", -3.2, None)]),
    (ModbusOptions(signed=False), "01 03 02 FF E0 F8 3C", [("reading", 6550.4, None)]),
    (ModbusOptions(scale=0.01), "01 03 02 0E 42 3C 15", [("reading", 36.5, None)]),
    (ModbusOptions(), "01 03 02 01 6D 78 38", [("error", "CRC mismatch")]),
    (ModbusOptions(), "01 83 02 C0 F1", [("error", "device exception 2")]),
    (ModbusOptions(), "FF 00 " + REPLY, [("error", "line noise skipped"), ("reading", 36.5, None)]),
    (ModbusOptions(), "02 03 02 01 6D 3C 39", [("error", "line noise skipped")]),  # another slave
    (ModbusOptions(address=2), "02 03 02 01 6D 3C 39", [("reading", 36.5, None)]),
    (ModbusOptions(), "01 03 04 01 6D 00 FA 00 00", [("error", "line noise skipped")]),  # not our 1-register reply
    (ModbusOptions(), REPLY + " " + REPLY, [("reading", 36.5, None)] * 2),
    (ModbusOptions(), "01 03 02 01", []),
]


@pytest.mark.parametrize(("options", "hex_text", "expected"), REPLIES)
def test_reply_table(options: ModbusOptions, hex_text: str, expected: list[tuple]) -> None:
    assert decode(ModbusCodec(options), hex_text) == expected


@pytest.mark.parametrize(("options", "hex_text"), [
    (ModbusOptions(), "01 03 00 00 00 01 84 0a"),  # docs/protocols.md §2.3
    (ModbusOptions(address=2, holding_register=0x10), "02 03 00 10 00 01 85 fc"),
])
def test_request(options: ModbusOptions, hex_text: str) -> None:
    assert ModbusCodec(options).poll_request().hex(" ") == hex_text


def test_crc_is_crc16_modbus() -> None:
    assert FramerRTU.compute_CRC(b"123456789").to_bytes(2, "big") == bytes.fromhex("374b")  # 4B37, LSB first


def test_device_side_encoder() -> None:
    assert encode_reading(ModbusOptions(), 36.5).hex(" ") == REPLY.lower()


@pytest.mark.parametrize("bad", [{"address": 0}, {"address": 248}, {"holding_register": -1}, {"scale": 0}])
def test_options_that_cannot_work_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        ModbusOptions(**bad)


@given(st.integers(-32768, 32767), st.integers(1, 247))
def test_round_trip(count: int, address: int) -> None:
    options = ModbusOptions(address=address)
    assert decode(ModbusCodec(options), encode_reading(options, count / 10).hex()) == [
        ("reading", round(count * 0.1, 6), None)
    ]
