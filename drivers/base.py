"""The one small interface every device backend implements.

A device runs in a thread of its own (serial and camera I/O block), reports what it sees through
`emit`, and returns when `stop` is set. Device faults are reported as `DeviceHealth` events and
retried with backoff; `run` raises only for programming errors. Real hardware and simulators sit
behind the same interface, chosen by configuration.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from pydantic import BaseModel

Emit = Callable[[BaseModel], None]


class Device(ABC):
    """A reader, thermometer or camera. The constructor does no I/O; work starts in `run`."""

    @abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read the device until `stop` is set, passing every event to `emit` (thread-safe)."""


class Backoff:
    """Reconnection delays: doubling from `first` up to `cap`, reset after a success."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
