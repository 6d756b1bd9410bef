"""The measurement layer on recorded sequences of object temperatures (°C, one per reading)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.thermo.events import RawReading, TemperatureMeasured
from drivers.thermo.measure import Measurer, MeasureSettings

T0 = datetime(2022, 3, 1, 8, 30, tzinfo=UTC)
NOBODY = [24.5, 24.6, 24.4, 24.5]


def run(objects: list[float], **settings: Any) -> list[TemperatureMeasured]:
    measurer = Measurer(MeasureSettings(**settings))
    results = []
    for i, object_c in enumerate(objects):
        reading = RawReading(object_c=object_c, ambient_c=25.0, raw=b"", protocol="gy-mcu",
                             received_at=T0 + timedelta(seconds=i / 4))
        if (result := measurer.add(reading)) is not None:
            results.append(result)
    return results


def test_nobody_then_a_subject_then_nobody_gives_one_measurement() -> None:
    (result,) = run([*NOBODY, 35.9, 36.1, 36.0, 36.2, 36.1, 36.0, *NOBODY], offset_c=0.9)
    assert result.status == "measured"
    assert result.object_c == 36.1  # upper median of 35.9 36.0 36.1 36.2
    assert result.body_c == 37.0
    assert (result.offset_c, result.samples, result.ambient_c, result.protocol) == (0.9, 4, 25.0, "gy-mcu")
    assert result.background_c == pytest.approx(24.45, abs=0.1)
    assert result.measured_at == T0 + timedelta(seconds=7 / 4)


def test_nobody_alone_gives_nothing() -> None:
    assert run(NOBODY * 10) == []


def test_a_fever_is_reported_as_measured_not_judged() -> None:
    (result,) = run([*NOBODY, 37.7, 37.8, 37.8, 37.9, *NOBODY], offset_c=0.6)
    assert (result.status, result.body_c) == ("measured", 38.4)


def test_each_presentation_gives_its_own_result_so_policy_can_remeasure() -> None:
    results = run([*NOBODY, *[37.8] * 6, *NOBODY, *[37.9] * 6, *NOBODY], offset_c=0.6)
    assert [r.body_c for r in results] == [38.4, 38.5]


@pytest.mark.parametrize(("objects", "reason"), [
    ([31.0, 31.2, 31.1, 31.0], "below plausible range"),  # a cold forehead outdoors
    ([44.0, 44.5, 44.2, 44.1], "above plausible range"),  # a hot drink held up, a faulty sensor
])
def test_an_implausible_value_is_invalid_and_never_rewritten(objects: list[float], reason: str) -> None:
    (result,) = run([*NOBODY, *objects, *NOBODY], offset_c=0.9)
    assert (result.status, result.body_c, result.reason) == ("invalid", None, reason)
    assert result.object_c == sorted(objects)[2]  # the honest value is kept


def test_the_plausible_range_is_configurable() -> None:
    (result,) = run([*NOBODY, *[35.0] * 4], plausible_min_c=35.5)
    assert (result.status, result.plausible_min_c) == ("invalid", 35.5)


def test_a_subject_who_leaves_early_gets_an_invalid_result() -> None:
    (result,) = run([*NOBODY, 36.0, 36.1, *NOBODY])
    assert (result.status, result.samples, result.body_c) == ("invalid", 2, None)
    assert result.reason == "subject left after 2 of 4 samples"


def test_noise_near_the_threshold_does_not_split_a_presentation() -> None:
    # arrival needs +2.0 over the background; leaving needs to fall below +1.0
    assert len(run([*NOBODY, 26.6, 26.4, 26.7, 25.8, 26.6, 26.5, *NOBODY])) == 1


def test_starting_with_a_subject_in_front_recovers_when_they_leave() -> None:
    results = run([36.0, 36.1, *NOBODY, 36.0, 36.1, 36.2, 36.0], offset_c=0.9)
    assert [r.body_c for r in results] == [37.0]


def test_a_slowly_warming_scene_is_not_a_subject() -> None:
    assert run([24.0 + i * 0.02 for i in range(200)]) == []


@pytest.mark.parametrize(("reduce", "expected"), [("upper-median", 36.2), ("median", 36.15), ("max", 36.4)])
def test_reducers(reduce: str, expected: float) -> None:
    (result,) = run([*NOBODY, 36.1, 36.4, 36.0, 36.2], reduce=reduce)
    assert result.object_c == pytest.approx(expected)


def test_reset_forgets_a_burst_in_progress() -> None:
    measurer = Measurer(MeasureSettings())
    for object_c in [*NOBODY, 36.0, 36.1]:
        measurer.add(RawReading(object_c=object_c, ambient_c=None, raw=b"", protocol="modbus", received_at=T0))
    measurer.reset()
    assert not measurer.present


def test_settings_refuse_an_empty_range() -> None:
    with pytest.raises(ValidationError):
        MeasureSettings(plausible_min_c=40.0, plausible_max_c=35.0)


scene = st.one_of(st.floats(20.0, 26.0), st.floats(30.0, 46.0), st.floats(-40.0, 120.0))


@given(st.lists(scene, max_size=80), st.floats(-3.0, 3.0))
def test_no_value_outside_the_plausible_range_is_ever_reported_as_a_temperature(
    objects: list[float], offset_c: float
) -> None:
    for result in run(objects, offset_c=offset_c):
        if result.status == "measured":
            assert result.body_c is not None
            assert 34.0 <= result.body_c <= 42.5
        else:
            assert result.body_c is None and result.reason
