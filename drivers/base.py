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

from common.backoff import Backoff

__all__ = ["Backoff", "Device", "Emit"]

Emit = Callable[[BaseModel], None]


class Device(ABC):
    """A reader, thermometer or camera. The constructor does no I/O; work starts in `run`."""

    @abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read the device until `stop` is set, passing every event to `emit` (thread-safe)."""
