from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.thermo.codecs.aa_a5 import AaA5Codec, AaA5Options, encode_reading, frame
from tests.drivers.thermo.codecs.vectors import decode

REPLY = "AA A5 08 01 02 01 6D 00 FA 73 55"  # docs/protocols.md §2.2: 36.5 / 25.0 °C, body mode

REPLIES = [
    (REPLY, [("reading", 36.5, 25.0)]),
    ("AA A5 08 01 01 01 5E 00 FA 63 55", [("reading", 35.0, 25.0)]),  # object mode
    ("AA A5 08 01 02 01 6D FF CE 46 55", [("reading", 36.5, -5.0)]),  # signed ambient
    ("AA A5 08 01 02 01 6D 00 FA 74 55", [("error", "checksum or tail mismatch")]),
    ("AA A5 08 01 02 01 6D 00 FA 73 56", [("error", "checksum or tail mismatch")]),
    ("AA A5 04 02 02 08 55", []),  # "set target" acknowledged: no reading
    ("11 22 " + REPLY, [("error", "line noise skipped"), ("reading", 36.5, 25.0)]),
    (REPLY + " AA", [("reading", 36.5, 25.0)]),  # the start of the next frame waits
    ("AA A5 01 01", [("error", "line noise skipped")]),  # LEN below 3 is noise
    ("AA A5 08 01 02 01", []),
]


@pytest.mark.parametrize(("hex_text", "expected"), REPLIES)
def test_reply_table(hex_text: str, expected: list[tuple]) -> None:
    assert decode(AaA5Codec(AaA5Options()), hex_text) == expected


@pytest.mark.parametrize(("cmd", "args", "hex_text"), [
    (0x01, b"", "aa a5 03 01 04 55"),  # measure, docs/protocols.md §2.2
    (0x02, b"\x02", "aa a5 04 02 02 08 55"),  # set target: body
    (0x02, b"\x01", "aa a5 04 02 01 07 55"),  # set target: object
])
def test_request_frames(cmd: int, args: bytes, hex_text: str) -> None:
    assert frame(cmd, args).hex(" ") == hex_text


def test_requests() -> None:
    codec = AaA5Codec(AaA5Options(target="object"))
    assert codec.poll_request().hex(" ") == "aa a5 03 01 04 55"
    assert codec.start_request().hex(" ") == "aa a5 04 02 01 07 55"


def test_encoder_matches_the_published_reply() -> None:
    assert encode_reading(36.5, 25.0).hex(" ") == REPLY.lower()


@given(st.integers(-2731, 32767), st.integers(-400, 1250))
def test_round_trip(object_deci: int, ambient_deci: int) -> None:
    data = encode_reading(object_deci / 10, ambient_deci / 10)
    assert decode(AaA5Codec(AaA5Options()), data.hex()) == [("reading", object_deci / 10, ambient_deci / 10)]
