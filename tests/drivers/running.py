"""A driver's loop in a thread for the length of a test, its events into a queue."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from drivers.base import Device

WAIT_S = 10.0  # generous: other test suites share the two cores


@contextmanager
def device_thread(device: Device, events: queue.Queue[BaseModel]) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(events.put, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
        assert not thread.is_alive(), f"{type(device).__name__} did not stop"
