"""Frames for the camera tests: real pictures drawn by the simulator's renderer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from drivers.camera import render
from drivers.sim.camera_streams import PAYLOAD, FrameFeed
from drivers.sim.camera_streams import phone_picture as phone_frame

URL = PAYLOAD


@pytest.fixture
def empty_frame() -> np.ndarray:
    return render.backdrop((640, 480), np.random.default_rng(3))


@pytest.fixture
def feed() -> Iterator[FrameFeed]:
    """An IP camera's sensor: a phone showing URL, stamped with its capture time, 15 frames a second."""
    running = FrameFeed(phone_frame()[0], fps=15).start()
    yield running
    running.stop()
