"""Properties every codec family must have, fuzzed: no input makes a codec raise or hoard bytes,
chunking does not change the result, and a codec recovers from line noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.thermo.codecs import FAMILIES, Codec, FrameError, aa_a5, ascii_line, gy_mcu, modbus
from drivers.thermo.events import RawReading
from tests.drivers.thermo.codecs.vectors import AT, summarise


@dataclass(frozen=True)
class Spec:
    encode: Callable[[float, float], bytes]
    resolution: float  # °C per count on the wire
    max_frame: int  # the most a codec may hold back
    noise: st.SearchStrategy[bytes]  # noise that cannot hide the start of a frame


SPECS = {
    "gy-mcu": Spec(gy_mcu.encode_reading, 0.01, 5 + gy_mcu.MAX_DATA,
                   st.binary(max_size=40).map(lambda b: b.replace(b"\x5a", b""))),
    "aa-a5": Spec(aa_a5.encode_reading, 0.1, 258, st.binary(max_size=40).map(lambda b: b.replace(b"\xaa", b""))),
    "modbus": Spec(lambda o, _a: modbus.encode_reading(modbus.ModbusOptions(), o), 0.1, 7,
                   st.binary(max_size=40).map(lambda b: b.replace(b"\x01", b""))),
    "ascii": Spec(lambda o, a: ascii_line.encode_reading(o, a, "T:{object:.2f} A:{ambient:.2f}\r\n"), 0.01, 128,
                  st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n")),
}
FAMILY_NAMES = sorted(FAMILIES)
temperatures = st.integers(-2000, 5000).map(lambda c: c / 100)


def fresh(name: str) -> Codec:
    return FAMILIES[name].make()


def test_every_family_has_a_spec() -> None:
    assert set(SPECS) == set(FAMILIES)


@pytest.mark.parametrize("name", FAMILY_NAMES)
@given(data=st.binary(max_size=600))
def test_any_bytes_give_events_never_exceptions_nor_an_unbounded_buffer(name: str, data: bytes) -> None:
    codec = fresh(name)
    events = codec.feed(data, AT)
    assert all(isinstance(e, RawReading | FrameError) for e in events)
    assert codec.pending <= SPECS[name].max_frame


@pytest.mark.parametrize("name", FAMILY_NAMES)
@settings(max_examples=60)
@given(st.data())
def test_chunking_does_not_change_the_events(name: str, data: st.DataObject) -> None:
    spec = SPECS[name]
    parts = data.draw(st.lists(st.one_of(spec.noise, st.tuples(temperatures, temperatures).map(
        lambda t: spec.encode(*t))), max_size=8))
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    whole = summarise(fresh(name).feed(stream, AT))
    codec = fresh(name)
    chunked: list = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        chunked += codec.feed(stream[start:end], AT)
    assert _merge_noise(summarise(chunked)) == _merge_noise(whole)


@pytest.mark.parametrize("name", FAMILY_NAMES)
@given(noise=st.data(), object_c=temperatures, ambient_c=temperatures)
def test_a_frame_after_noise_is_found(name: str, noise: st.DataObject, object_c: float, ambient_c: float) -> None:
    spec = SPECS[name]
    junk = noise.draw(spec.noise)
    events = summarise(fresh(name).feed(junk + spec.encode(object_c, ambient_c), AT))
    assert events[-1][0] == "reading"
    assert abs(events[-1][1] - object_c) <= spec.resolution / 2 + 1e-9
    assert all(kind == "error" for kind, *_ in events[:-1])


def _merge_noise(events: list[tuple]) -> list[tuple]:
    """Noise split across chunks is reported in several pieces; compare it as one."""
    merged: list[tuple] = []
    for event in events:
        if event == ("error", "line noise skipped") and merged and merged[-1] == event:
            continue
        merged.append(event)
    return merged
