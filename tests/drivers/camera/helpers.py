"""Running a Camera in a thread and waiting for its events."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from drivers.base import DeviceHealth, HealthState
from drivers.camera.capture import CameraConfig
from drivers.camera.device import Camera
from drivers.camera.events import CodeScanned
from drivers.camera.scene import PhoneScene
from tests.mqtt import wait_until


class Running:
    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.events: queue.Queue[BaseModel] = queue.Queue(maxsize=1000)
        self.seen: list[DeviceHealth] = []

    def next_scan(self, timeout: float = 5.0) -> CodeScanned:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(event, CodeScanned):
                return event
            if isinstance(event, DeviceHealth):
                self.seen.append(event)
        raise TimeoutError(f"no code scanned; the camera reported {[e.detail or e.state for e in self.seen]}")

    def next_health(self, state: HealthState, timeout: float = 20.0) -> DeviceHealth:
        """The next health report in `state`, skipping scans and other states (kept in `self.seen`)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(event, DeviceHealth):
                self.seen.append(event)
                if event.state is state:
                    return event
        raise TimeoutError(f"the camera did not report {state.value}; it reported {[e.detail for e in self.seen]}")

    def scans_within(self, seconds: float) -> list[CodeScanned]:
        """The scans reported over `seconds` of wall time (for what a window of time is about)."""
        time.sleep(seconds)
        return self._scans_so_far()

    def scans_over(self, frames: int) -> list[CodeScanned]:
        """The scans reported while the camera decoded `frames` more frames."""
        decoded = self.camera.stats().frames_decoded
        # one more: a frame is counted before what it shows is reported
        wait_until(lambda: self.camera.stats().frames_decoded > decoded + frames, timeout=30, what=f"{frames} frames")
        return self._scans_so_far()

    def _scans_so_far(self) -> list[CodeScanned]:
        drained = []
        while not self.events.empty():
            event = self.events.get_nowait()
            if isinstance(event, CodeScanned):
                drained.append(event)
        return drained


@contextmanager
def running_camera(scene: PhoneScene | None, **settings: object) -> Iterator[Running]:
    """A Camera in a thread; `source` (and any other setting) may be overridden: a stream needs no scene."""
    config = CameraConfig.model_validate({"source": "sim:", "width": 640, "height": 480, "fps": 30, **settings})
    running = Running(Camera(config, scene=scene))
    stop = threading.Event()
    thread = threading.Thread(target=running.camera.run, args=(running.events.put, stop), daemon=True)
    thread.start()
    try:
        yield running
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()
