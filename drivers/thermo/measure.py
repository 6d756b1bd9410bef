"""From raw readings to one honest temperature per subject: presence, burst, offset, plausibility.

Theory of operation: a thermopile always reads *something*, so "somebody is there" is a reading
clearly above the empty-scene background: at least `presence_rise_c` above it to arrive, and below
half that rise to leave (hysteresis against noise). While nobody is there the background follows the
scene: at once when it cools (which also recovers from starting with a subject in front), slowly
when it warms. When a subject arrives we collect a burst of `samples` readings and reduce it to one
value (upper median by default, as kiosks do), add the per-device offset (forehead -> body) and
check the plausible range. Outside it the result is *invalid*: `body_c` stays None and the raw
values are kept — it is never rewritten to look normal. A subject who leaves before the burst is
complete also gets an invalid result, so every presentation yields exactly one `TemperatureMeasured`;
the next one starts only after the subject has left. Whether a value is a fever, and whether to
re-measure, is policy and not decided here. Pure: no I/O, time comes in with each reading.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.thermo.events import RawReading, TemperatureMeasured

REDUCERS = {
    "upper-median": lambda ordered: ordered[len(ordered) // 2],
    "median": lambda ordered: (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2,
    "max": lambda ordered: ordered[-1],
}


class MeasureSettings(BaseModel):
    """How readings become measurements; `ThermoConfig` carries these at the top of `thermo:`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offset_c: float = Field(default=0.0, ge=-10.0, le=10.0)  # added to the reduced reading; see `calibrate`
    samples: int = Field(default=4, ge=1, le=32)  # readings per measurement
    reduce: Literal["upper-median", "median", "max"] = "upper-median"
    plausible_min_c: float = 34.0
    plausible_max_c: float = 42.5
    presence_rise_c: float = Field(default=2.0, gt=0.0)  # a subject reads this much above the empty scene
    background_follow: float = Field(default=0.05, gt=0.0, le=1.0)  # how fast the background follows warming

    @model_validator(mode="after")
    def _range_is_a_range(self) -> MeasureSettings:
        if self.plausible_min_c >= self.plausible_max_c:
            raise ValueError("plausible_min_c must be below plausible_max_c")
        return self


class _State(Enum):
    ABSENT = "absent"
    COLLECTING = "collecting"
    MEASURED = "measured"  # result given; waiting for the subject to leave


class Measurer:
    """Feed it every reading in order; it answers a `TemperatureMeasured` once per presentation."""

    def __init__(self, settings: MeasureSettings) -> None:
        self.settings = settings
        self.background_c: float | None = None
        self._state = _State.ABSENT
        self._burst: list[RawReading] = []

    @property
    def present(self) -> bool:
        return self._state is not _State.ABSENT

    def add(self, reading: RawReading) -> TemperatureMeasured | None:
        if self.background_c is None:  # the first reading defines the empty scene
            self._follow(reading.object_c)
            return None
        rise = reading.object_c - self.background_c
        if self._state is _State.ABSENT:
            if rise < self.settings.presence_rise_c:
                self._follow(reading.object_c)
                return None
            self._state, self._burst = _State.COLLECTING, []
        if rise < self.settings.presence_rise_c / 2:  # the subject has left
            result = None
            if self._state is _State.COLLECTING:
                result = self._result(f"subject left after {len(self._burst)} of {self.settings.samples} samples")
            self._state = _State.ABSENT
            self._follow(reading.object_c)
            return result
        if self._state is _State.COLLECTING:
            self._burst.append(reading)
            if len(self._burst) == self.settings.samples:
                self._state = _State.MEASURED
                return self._result()
        return None

    def reset(self) -> None:
        """Forget a burst in progress (the device was lost); the background is kept."""
        self._state, self._burst = _State.ABSENT, []

    def _follow(self, object_c: float) -> None:
        if self.background_c is None or object_c <= self.background_c:
            self.background_c = object_c
        else:
            self.background_c += self.settings.background_follow * (object_c - self.background_c)

    def _result(self, incomplete: str = "") -> TemperatureMeasured:
        s, burst = self.settings, self._burst
        reduce = REDUCERS[s.reduce]
        object_c = reduce(sorted(r.object_c for r in burst))
        ambients = sorted(r.ambient_c for r in burst if r.ambient_c is not None)
        body_c = round(object_c + s.offset_c, 2)
        if incomplete:
            reason = incomplete
        elif body_c < s.plausible_min_c:
            reason = "below plausible range"
        elif body_c > s.plausible_max_c:
            reason = "above plausible range"
        else:
            reason = ""
        return TemperatureMeasured(
            status="invalid" if reason else "measured",
            body_c=None if reason else body_c,
            object_c=object_c,
            offset_c=s.offset_c,
            ambient_c=reduce(ambients) if ambients else None,
            background_c=None if self.background_c is None else round(self.background_c, 2),
            protocol=burst[-1].protocol,
            samples=len(burst),
            plausible_min_c=s.plausible_min_c,
            plausible_max_c=s.plausible_max_c,
            reason=reason,
            measured_at=burst[-1].received_at,
        )
