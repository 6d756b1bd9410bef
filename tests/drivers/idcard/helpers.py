"""Running the reader loop in a thread and waiting for its events, for the tests."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from drivers.base import DeviceHealth, HealthState
from drivers.idcard.reader import CardPresented, IdCardConfig, IdCardReader
from drivers.idcard.simulator import IdCardSimulator
from tests.drivers.running import WAIT_S, device_thread
from tests.mqtt import wait_until


class Collected:
    """Events from a running reader, waited for by kind."""

    def __init__(self) -> None:
        self.queue: queue.Queue[BaseModel] = queue.Queue(maxsize=1000)
        self.seen: list[BaseModel] = []

    def next_card(self, timeout: float = WAIT_S) -> CardPresented:
        return self._next(CardPresented, timeout)  # type: ignore[return-value]

    def next_health(self, state: HealthState, timeout: float = WAIT_S) -> DeviceHealth:
        deadline = time.monotonic() + timeout
        while True:
            event = self._next(DeviceHealth, deadline - time.monotonic())
            assert isinstance(event, DeviceHealth)
            if event.state is state:
                return event

    def next_trouble(self, timeout: float = WAIT_S) -> DeviceHealth:
        """The next health report that is not OK (DEGRADED or DISCONNECTED, whichever comes)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._next(DeviceHealth, deadline - time.monotonic())
            assert isinstance(event, DeviceHealth)
            if event.state is not HealthState.OK:
                return event

    def after_polls(self, sim: IdCardSimulator, count: int = 5) -> list[BaseModel]:
        """The events that came while the reader asked `sim` for a card `count` more times (one event per
        presentation means none of them is a card while it stays on the reader, or after it is gone)."""
        polls = sim.commands["FIND"]
        wait_until(lambda: sim.commands["FIND"] >= polls + count, timeout=WAIT_S, what=f"{count} more polls")
        got: list[BaseModel] = []
        while not self.queue.empty():
            got.append(self.queue.get_nowait())
        self.seen += got
        return got

    def drain(self, seconds: float) -> list[BaseModel]:
        end = time.monotonic() + seconds
        got: list[BaseModel] = []
        while (left := end - time.monotonic()) > 0:
            try:
                got.append(self.queue.get(timeout=left))
            except queue.Empty:
                break
        self.seen += got
        return got

    def _next(self, kind: type[BaseModel], timeout: float) -> BaseModel:
        deadline = time.monotonic() + timeout
        while True:
            event = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            self.seen.append(event)
            if isinstance(event, kind):
                return event


def fast_config(port: str, **overrides: object) -> IdCardConfig:
    values: dict[str, object] = dict(port=port, poll_interval_s=0.01, reply_timeout_s=0.25,
                                     read_timeout_s=0.4, backoff_first_s=0.05, backoff_cap_s=0.2)
    return IdCardConfig(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def running(config: IdCardConfig) -> Iterator[Collected]:
    collected = Collected()
    with device_thread(IdCardReader(config), collected.queue):
        yield collected
