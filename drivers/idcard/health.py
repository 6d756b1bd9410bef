"""Turns the outcomes of a reader's exchanges into DeviceHealth events, emitted only on a change."""

from __future__ import annotations

from drivers.base import Emit
from drivers.events import DeviceHealth, DeviceKind, HealthState


class HealthReporter:
    """OK after a clean exchange; DEGRADED after `degraded_after` failures in a row (or at once when
    told); DISCONNECTED when told (port gone, module silent)."""

    def __init__(self, emit: Emit, name: str, degraded_after: int) -> None:
        self._emit = emit
        self._name = name
        self._degraded_after = degraded_after
        self._failures = 0
        self.state: HealthState | None = None

    def ok(self, detail: str = "") -> None:
        self._failures = 0
        self._set(HealthState.OK, detail)

    def failure(self, detail: str) -> None:
        self._failures += 1
        if self._failures >= self._degraded_after or self.state is HealthState.DISCONNECTED:
            self._set(HealthState.DEGRADED, detail)

    def degraded(self, detail: str) -> None:
        self._set(HealthState.DEGRADED, detail)

    def disconnected(self, detail: str) -> None:
        self._set(HealthState.DISCONNECTED, detail)

    def _set(self, state: HealthState, detail: str) -> None:
        if state is not self.state:
            self.state = state
            self._emit(DeviceHealth(kind=DeviceKind.IDCARD, name=self._name, state=state, detail=detail))
