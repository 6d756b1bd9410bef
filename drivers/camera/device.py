"""The camera as a drivers.base.Device: newest frame -> decode -> debounce -> colour -> CodeScanned.

`run` owns two threads: the grabber (capture.py) reading the source, and the calling thread, which
decodes the newest frame within the time budget. zxing-cpp and pyzbar release the GIL while they
work (measured: docs/camera.md), so a thread is enough and the agent's own threads keep running; a
decoding process would double the memory (OpenCV and both libraries loaded twice) for nothing.
The colour is classified only for a code the debouncer lets through, once per presentation.
"""

from __future__ import annotations

import logging
import threading
import time

from pydantic import BaseModel, ConfigDict

from drivers.base import Device, Emit
from drivers.camera.capture import CameraConfig, Frame, FrameGrabber, open_source
from drivers.camera.colour import classify
from drivers.camera.decode import Decoder
from drivers.camera.events import CodeScanned, Debouncer
from drivers.camera.scene import PhoneScene

log = logging.getLogger(__name__)


class CameraStats(BaseModel):
    """Counters for the agent's metrics."""

    model_config = ConfigDict(frozen=True)

    frames_captured: int
    frames_decoded: int
    frames_dropped: int  # captured but replaced by a newer one before the decoder took them
    codes_reported: int
    decode_fps: float  # frames decoded per second over the last few seconds


class Camera(Device):
    """A camera reporting `CodeScanned` and `DeviceHealth(kind=camera)` events.

    For `source="sim:"` pass the PhoneScene to show codes in: `Camera(config, scene=scene)`.
    """

    def __init__(self, config: CameraConfig, scene: PhoneScene | None = None) -> None:
        if config.source.strip().startswith("sim:") and scene is None:
            raise ValueError("source sim: needs a PhoneScene: Camera(config, scene=PhoneScene())")
        self.config = config
        self.scene = scene
        self._grabber: FrameGrabber | None = None
        self._decoded = 0
        self._reported = 0
        self._fps = 0.0

    def stats(self) -> CameraStats:
        grabber = self._grabber
        return CameraStats(
            frames_captured=grabber.frames if grabber else 0,
            frames_decoded=self._decoded,
            frames_dropped=grabber.dropped if grabber else 0,
            codes_reported=self._reported,
            decode_fps=round(self._fps, 2),
        )

    def run(self, emit: Emit, stop: threading.Event) -> None:
        decoder = Decoder(budget_ms=self.config.decode_budget_ms)
        debouncer = Debouncer(self.config.debounce_s)
        grabber = FrameGrabber(self.config, open_source(self.config, self.scene), emit)
        self._grabber = grabber
        grabber.start()
        try:
            last = time.monotonic()
            while not stop.is_set():
                frame = grabber.latest(timeout=0.2)
                if frame is None:
                    continue
                self._handle(frame, decoder, debouncer, emit)
                now = time.monotonic()
                self._fps = 0.9 * self._fps + 0.1 / max(now - last, 1e-3)
                last = now
        finally:
            grabber.stop()

    def _handle(self, frame: Frame, decoder: Decoder, debouncer: Debouncer, emit: Emit) -> None:
        result = decoder.decode(frame.image)
        self._decoded += 1
        for found in result.found:
            if not debouncer.admit(found.text, frame.captured):
                continue
            reading = classify(frame.image, found.corners)
            self._reported += 1
            log.info(
                "code scanned",
                extra={"camera": self.config.name, "decoder": found.decoder, "colour": reading.colour.value},
            )
            emit(
                CodeScanned(
                    camera=self.config.name,
                    text=found.text,
                    colour=reading.colour,
                    colour_confidence=reading.confidence,
                    decoder=found.decoder,
                    ms=round(result.ms, 2),
                    corners=found.corners,
                    frame_width=int(frame.image.shape[1]),
                    frame_height=int(frame.image.shape[0]),
                    at=frame.at,
                )
            )
