"""Running a Thermometer in a thread and waiting for what it emits (bounded waits, no timing asserts)."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from drivers.base import Device, DeviceHealth, HealthState
from drivers.thermo.events import TemperatureMeasured
from tests.drivers.running import WAIT_S, device_thread


class Events:
    def __init__(self) -> None:
        self.queue: queue.Queue[BaseModel] = queue.Queue(maxsize=10_000)
        self.seen: list[BaseModel] = []

    def wait_for(self, wanted: Callable[[BaseModel], bool], what: str) -> BaseModel:
        while True:
            try:
                event = self.queue.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no {what} within {WAIT_S} s; saw {self.seen[-8:]}") from None
            self.seen.append(event)
            if wanted(event):
                return event

    def health(self, state: HealthState) -> DeviceHealth:
        event = self.wait_for(lambda e: isinstance(e, DeviceHealth) and e.state is state, f"health {state}")
        assert isinstance(event, DeviceHealth)
        return event

    def measured(self) -> TemperatureMeasured:
        event = self.wait_for(lambda e: isinstance(e, TemperatureMeasured), "measurement")
        assert isinstance(event, TemperatureMeasured)
        return event


@contextmanager
def running(device: Device) -> Iterator[Events]:
    events = Events()
    with device_thread(device, events.queue):
        yield events
