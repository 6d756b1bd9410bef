from __future__ import annotations

import cv2
import numpy as np
import pytest

from contract.messages import CodeColour
from drivers.camera.colour import classify
from tests.drivers.camera.conftest import phone_frame

COLOURS = [CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED, CodeColour.GREY]


def _cast(frame: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return cv2.transform(frame, np.diag(gains))


@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize(
    ("label", "alter"),
    [
        ("as drawn", lambda f: f),
        ("warm white balance", lambda f: _cast(f, (0.75, 1.0, 1.25))),
        ("cold white balance", lambda f: _cast(f, (1.25, 1.0, 0.8))),
        ("dark", lambda f: cv2.convertScaleAbs(f, alpha=0.3)),
        ("over-exposed", lambda f: cv2.convertScaleAbs(f, alpha=1.6)),
        ("jpeg", lambda f: cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], 1)),
    ],
)
def test_tells_each_colour_under_bad_light(colour: CodeColour, label: str, alter: object) -> None:
    frame, corners = phone_frame(colour=colour)
    reading = classify(alter(frame), [tuple(c) for c in corners])  # type: ignore[operator]
    assert reading.colour is colour, reading.detail


@pytest.mark.parametrize("colour", COLOURS)
def test_glare_over_part_of_the_code_does_not_change_the_colour(colour: CodeColour) -> None:
    frame, corners = phone_frame(colour=colour)
    centre = corners.mean(axis=0).astype(int)
    glare = np.zeros(frame.shape[:2], np.float32)
    cv2.circle(glare, (int(centre[0]), int(centre[1])), 30, 1.0, -1)
    glare = cv2.GaussianBlur(glare, (0, 0), 12) * 400
    glared = cv2.add(frame, cv2.merge([glare] * 3), dtype=cv2.CV_8U)
    assert classify(glared, [tuple(c) for c in corners]).colour is colour


def test_a_black_code_is_grey() -> None:
    frame, corners = phone_frame(colour=CodeColour.UNKNOWN)  # drawn black
    assert classify(frame, [tuple(c) for c in corners]).colour is CodeColour.GREY


def _half_and_half() -> np.ndarray:
    """A checkerboard of 10-pixel modules over the test square: red on the left, green on the right."""
    frame = np.full((480, 640, 3), 255, np.uint8)
    y, x = np.mgrid[0:480, 0:640]
    dark = ((x // 10 + y // 10) % 2 == 0) & (x >= 100) & (x < 300) & (y >= 100) & (y < 300)
    frame[dark & (x < 200)] = (53, 57, 229)
    frame[dark & (x >= 200)] = (80, 176, 0)
    return frame


@pytest.mark.parametrize(
    ("label", "frame"),
    [
        ("flat grey", np.full((480, 640, 3), 128, np.uint8)),
        ("half red, half green", _half_and_half()),
        ("grey image", np.full((480, 640), 128, np.uint8)),
    ],
)
def test_unknown_when_unsure(label: str, frame: np.ndarray) -> None:
    reading = classify(frame, [(100, 100), (300, 100), (300, 300), (100, 300)])
    assert reading.colour is CodeColour.UNKNOWN
    assert reading.confidence == 0.0 or reading.confidence < 0.6
    assert reading.detail


def test_unknown_for_a_washed_out_code() -> None:
    frame, corners = phone_frame(colour=CodeColour.GREY)
    washed = cv2.convertScaleAbs(frame, alpha=0.1, beta=225)
    assert classify(washed, [tuple(c) for c in corners]).colour is CodeColour.UNKNOWN
