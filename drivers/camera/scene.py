"""A simulated phone in front of the camera, for the agent's --simulate mode, the demo and tests.

`PhoneScene.show(payload, colour)` holds up a phone showing that health code; `clear()` takes it
away. `render(width, height)` returns the camera's view at that moment: the phone (drawn by
render.py) at a pose chosen afresh for each presentation — some perspective, a turn — trembling a
little from frame to frame as a hand does, over a backdrop, with sensor noise. Frames are real BGR
pictures that the real decoder has to read. Thread-safe: the test or demo calls show/clear while
the camera's grabber thread renders.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from contract.messages import CodeColour
from drivers.camera import render

_NOISE_FRAMES = 4


class PhoneScene:
    def __init__(self, seed: int = 0, noise_sigma: float = 3.0) -> None:
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._noise_sigma = noise_sigma
        self._lock = threading.Lock()
        self._shown: tuple[str, CodeColour] | None = None
        self._presentation = 0
        self._cache: dict[tuple[int, int], tuple[int, np.ndarray]] = {}  # size -> (presentation, view)
        self._noise: dict[tuple[int, int], list[np.ndarray]] = {}  # int8: a quarter of the memory of float
        self._frames = 0

    @property
    def showing(self) -> tuple[str, CodeColour] | None:
        with self._lock:
            return self._shown

    def show(self, payload: str, colour: CodeColour) -> None:
        """Hold up a phone showing `payload` drawn in `colour` (a new presentation, a new pose)."""
        with self._lock:
            self._shown = (payload, colour)
            self._presentation += 1

    def clear(self) -> None:
        """Take the phone away."""
        with self._lock:
            self._shown = None
            self._presentation += 1

    def render(self, width: int, height: int) -> np.ndarray:
        """The camera's view now, BGR at width × height."""
        size = (width, height)
        with self._lock:
            presentation, shown = self._presentation, self._shown
            cached = self._cache.get(size)
            if cached is None or cached[0] != presentation:
                cached = (presentation, self._compose(size, shown))
                self._cache[size] = cached
            self._frames += 1
            frame_no = self._frames
            noise = self._noise_for(size)
        view = cached[1]
        dx, dy = (frame_no % 3) - 1, ((frame_no // 3) % 3) - 1  # a hand's tremble, a pixel or so
        shifted = cv2.warpAffine(
            view, np.array([[1, 0, dx], [0, 1, dy]], np.float32), size, borderMode=cv2.BORDER_REPLICATE
        )
        return cv2.add(shifted, noise[frame_no % len(noise)], dtype=cv2.CV_8U)

    def _compose(self, size: tuple[int, int], shown: tuple[str, CodeColour] | None) -> np.ndarray:
        background = render.backdrop(size, np.random.default_rng([self._seed, 0]))
        if shown is None:
            return background
        payload, colour = shown
        page, code = render.health_page(payload, colour)
        modules = render.qr_modules(payload).shape[0]
        page_share = (440 // modules * modules) / (render.PAGE_SIZE[1] + 48)
        share = float(np.clip(modules * 3.0 / (size[1] * page_share), 0.7, 0.95))  # ≥ 3 px a module
        quad = render.phone_quad(size, self._rng, share, 0.05, 10.0)
        return render.photograph(background, page, code, quad)[0]

    def _noise_for(self, size: tuple[int, int]) -> list[np.ndarray]:
        if size not in self._noise:
            rng = np.random.default_rng([self._seed, 1])
            shape = (size[1], size[0], 3)
            self._noise[size] = [
                (rng.standard_normal(shape, dtype=np.float32) * self._noise_sigma).clip(-127, 127).astype(np.int8)
                for _ in range(_NOISE_FRAMES)
            ]
        return self._noise[size]
