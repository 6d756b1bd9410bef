"""Frames for the camera tests: real pictures drawn by the simulator's renderer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from contract.messages import CodeColour
from drivers.camera import render
from drivers.sim.camera_streams import FrameFeed

URL = "https://hc.example.gov.cn/c/Tk7dQ2mWz9XbR4pL"


def phone_frame(
    payload: str = URL, colour: CodeColour = CodeColour.GREEN, size: tuple[int, int] = (640, 480), seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A camera frame with a phone showing `payload` in `colour`, and the code's true corners."""
    rng = np.random.default_rng(seed)
    page, code = render.health_page(payload, colour)
    quad = render.phone_quad(size, rng, 0.9, 0.04, 8.0)
    return render.photograph(render.backdrop(size, rng), page, code, quad)


@pytest.fixture
def empty_frame() -> np.ndarray:
    return render.backdrop((640, 480), np.random.default_rng(3))


@pytest.fixture
def feed() -> Iterator[FrameFeed]:
    """An IP camera's sensor: a phone showing URL, stamped with its capture time, 15 frames a second."""
    picture, _ = phone_frame()
    running = FrameFeed(picture, fps=15).start()
    yield running
    running.stop()
