from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.thermo.codecs.gy_mcu import QUERY, STREAM, GyMcuCodec, GyMcuOptions, encode_reading
from drivers.thermo.events import RawReading
from tests.drivers.thermo.codecs.vectors import AT, decode

VENDOR = "5A 5A 45 04 0C 78 0D 19 A7"  # docs/protocols.md §2.1: 31.92 / 33.53 °C

REPLIES = [
    (VENDOR, [("reading", 31.92, 33.53)]),
    ("5A 5A 45 04 0E 42 09 C4 1A", [("reading", 36.50, 25.00)]),
    ("5A 5A 45 04 FF 38 FE 0C 3E", [("reading", -2.00, -5.00)]),  # signed
    ("5A 5A 45 04 0C 78 0D 19 A8", [("error", "checksum mismatch")]),
    ("00 13 " + VENDOR, [("error", "line noise skipped"), ("reading", 31.92, 33.53)]),
    (VENDOR + " " + VENDOR, [("reading", 31.92, 33.53)] * 2),
    ("5A 5A 15 01 03 CD", []),  # a well-formed frame of another type: no reading
    ("5A 5A 45 04 0C 78", []),  # incomplete: waits
    ("5A 5A FF 10 " + VENDOR, [("error", "line noise skipped"), ("reading", 31.92, 33.53)]),
    ("5A 5A 45", []),
    ("FF", [("error", "line noise skipped")]),
]


@pytest.mark.parametrize(("hex_text", "expected"), REPLIES)
def test_reply_table(hex_text: str, expected: list[tuple]) -> None:
    assert decode(GyMcuCodec(GyMcuOptions()), hex_text) == expected


def test_requests_follow_the_mode() -> None:
    assert (STREAM.hex(" "), QUERY.hex(" ")) == ("a5 45 ea", "a5 15 ba")
    query, stream = GyMcuCodec(GyMcuOptions(mode="query")), GyMcuCodec(GyMcuOptions(mode="stream"))
    assert (query.start_request(), query.poll_request()) == (b"", QUERY)
    assert (stream.start_request(), stream.poll_request()) == (STREAM, None)


def test_encoder_matches_the_vendor_example() -> None:
    assert encode_reading(31.92, 33.53) == bytes.fromhex(VENDOR)


def test_reading_keeps_the_raw_frame_and_time() -> None:
    (reading,) = GyMcuCodec(GyMcuOptions()).feed(bytes.fromhex(VENDOR), AT)
    assert isinstance(reading, RawReading)
    assert reading.raw == bytes.fromhex(VENDOR)
    assert (reading.protocol, reading.received_at) == ("gy-mcu", AT)


@given(st.integers(-27315, 32767), st.integers(-4000, 12500))
def test_round_trip(object_centi: int, ambient_centi: int) -> None:
    frame = encode_reading(object_centi / 100, ambient_centi / 100)
    assert decode(GyMcuCodec(GyMcuOptions()), frame.hex()) == [
        ("reading", object_centi / 100, ambient_centi / 100)
    ]
