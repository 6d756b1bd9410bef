from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.camera.events import Debouncer

# (sightings as (text, time), which are reported), window 4 s
TABLE = [
    ([("a", 0.0)], [True]),
    ([("a", 0.0), ("a", 0.033), ("a", 0.066)], [True, False, False]),  # 30 frames a second: once
    ([("a", 0.0), ("a", 3.9), ("a", 7.8), ("a", 11.7)], [True, False, False, False]),  # held still: once
    ([("a", 0.0), ("a", 4.5)], [True, True]),  # shown again after the window: again
    ([("a", 0.0), ("b", 0.1), ("a", 0.2)], [True, True, False]),  # two codes, each once
]


@pytest.mark.parametrize(("sightings", "reported"), TABLE)
def test_table(sightings: list[tuple[str, float]], reported: list[bool]) -> None:
    debouncer = Debouncer(4.0)
    assert [debouncer.admit(text, t) for text, t in sightings] == reported


def test_window_zero_reports_only_new_instants() -> None:
    debouncer = Debouncer(0.0)
    assert [debouncer.admit("a", t) for t in (0.0, 0.0, 0.1)] == [True, False, True]


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(-1)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 0.5)), max_size=60))
def test_a_code_is_reported_once_per_unbroken_presentation(steps: list[tuple[str, float]]) -> None:
    window = 1.0
    debouncer = Debouncer(window)
    now, last_seen = 0.0, {}
    for text, gap in steps:
        now += gap
        expected = text not in last_seen or now - last_seen[text] > window
        assert debouncer.admit(text, now) is expected
        last_seen[text] = now
    assert len(debouncer._last_seen) <= 3  # bounded by the codes in sight
