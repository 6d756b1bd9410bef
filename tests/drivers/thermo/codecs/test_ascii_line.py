from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.thermo.codecs.ascii_line import AsciiLineCodec, AsciiOptions, encode_reading
from tests.drivers.thermo.codecs.vectors import decode

DEFAULT = AsciiOptions()
CUSTOM = AsciiOptions(pattern=r"^TEMP (?P<object>\d+\.\d) AMB (?P<ambient>-?\d+\.\d)$")

LINES = [
    (DEFAULT, b"T:36.5\r\n", [("reading", 36.5, None)]),  # docs/protocols.md §2.4
    (DEFAULT, b"T=36.52 A=25.10\n", [("reading", 36.52, 25.1)]),
    (DEFAULT, b"T: -3.5\r\n", [("reading", -3.5, None)]),
    (DEFAULT, b"\r\n\n", []),
    (DEFAULT, b"T:36.5", []),  # no newline yet: waits
    (DEFAULT, b"HELLO\r\n", [("error", "line does not match the pattern")]),
    (DEFAULT, b"T:3\xb66.5\r\n", [("error", "not ASCII")]),
    (DEFAULT, b"x" * 130, [("error", "line too long")]),
    (CUSTOM, b"TEMP 36.6 AMB -1.5\r\n", [("reading", 36.6, -1.5)]),
    (CUSTOM, b"TEMP 36.6\r\n", [("error", "line does not match the pattern")]),
    (AsciiOptions(pattern=r"(?P<object>\w+)"), b"nan\n", [("error", "not a finite number")]),
]


@pytest.mark.parametrize(("options", "data", "expected"), LINES)
def test_line_table(options: AsciiOptions, data: bytes, expected: list[tuple]) -> None:
    assert decode(AsciiLineCodec(options), data.hex()) == expected


@pytest.mark.parametrize("pattern", [r"T:(\d+)", r"T:(?P<object>\d+", r"(?P<temp>\d+)"])
def test_patterns_without_an_object_group_are_refused(pattern: str) -> None:
    with pytest.raises(ValidationError):
        AsciiOptions(pattern=pattern)


def test_streams_unless_a_request_is_configured() -> None:
    assert AsciiLineCodec(DEFAULT).poll_request() is None
    assert AsciiLineCodec(AsciiOptions(request="READ\r\n")).poll_request() == b"READ\r\n"


@given(st.integers(-4000, 12500), st.integers(-4000, 12500))
def test_round_trip(object_centi: int, ambient_centi: int) -> None:
    line = encode_reading(object_centi / 100, ambient_centi / 100, "T:{object:.2f} A:{ambient:.2f}\r\n")
    assert decode(AsciiLineCodec(DEFAULT), line.hex()) == [("reading", object_centi / 100, ambient_centi / 100)]
