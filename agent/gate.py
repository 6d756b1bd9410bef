"""An optional barrier-gate relay or signal light: it opens only on `pass` (or a staff override to pass).

gpiozero drives the pin; tests use its mock pin factory. The relay closes again after `open_s`.
"""

from __future__ import annotations

import threading

from gpiozero import OutputDevice
from gpiozero.pins import Factory
from pydantic import BaseModel, Field

from contract.messages import Decision, Verdict


class GateSettings(BaseModel):
    pin: str = Field(description="gpiozero pin name, e.g. GPIO17 or BOARD11")
    open_s: float = Field(default=3.0, gt=0, le=60)
    active_high: bool = True


class Gate:
    def __init__(self, settings: GateSettings, pin_factory: Factory | None = None) -> None:
        self._settings = settings
        self._relay = OutputDevice(
            settings.pin, active_high=settings.active_high, initial_value=False, pin_factory=pin_factory
        )
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def on_verdict(self, verdict: Verdict) -> None:
        if verdict.decision is Decision.PASS:
            self.open()
        else:
            self.shut()  # a later deny (an override) shuts a gate still open for the same traveller

    def open(self) -> None:
        with self._lock:
            self._cancel()
            self._relay.on()
            self._timer = threading.Timer(self._settings.open_s, self.shut)
            self._timer.daemon = True
            self._timer.start()

    def shut(self) -> None:
        with self._lock:
            self._cancel()
            self._relay.off()

    @property
    def is_open(self) -> bool:
        return bool(self._relay.value)

    def close(self) -> None:
        self.shut()
        self._relay.close()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
