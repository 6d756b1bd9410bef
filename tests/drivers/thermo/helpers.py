"""Running a Thermometer in a thread and waiting for what it emits (bounded waits, no timing asserts)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from drivers.base import Device
from drivers.events import DeviceHealth, HealthState
from drivers.thermo.events import TemperatureMeasured

WAIT_S = 10.0


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
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(events.queue.put, stop), daemon=True)
    thread.start()
    try:
        yield events
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
        assert not thread.is_alive(), "the device did not stop"
