"""The colour a health code is drawn in, told from the pixels of the located code alone.

Theory of operation: the code's quadrilateral is warped to a small square. Its pixels split (Otsu,
on the smallest channel, where a coloured code on white has its strongest contrast) into the light
background and the dark modules. The screen's own white — the median of the light pixels — is the
white reference: every module pixel is divided by it channel by channel, which takes out the
camera's white balance and exposure (a von Kries adaptation). Pixels clipped by glare and those on
module edges (mixed with the white between modules) are dropped. Each remaining pixel votes green,
yellow, red, grey (unsaturated) or other by its hue and saturation; the colour is the clear winner,
and UNKNOWN when there are too few pixels, too little contrast, or no clear majority.

The screen colour is the weakest evidence of a status (a screenshot forges it): see
agent/healthcode for the sources that outrank it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from contract.messages import CodeColour

_SIDE = 96  # pixels of the warped square
_MIN_PIXELS = 60
_MIN_CONTRAST = 0.12  # module vs white, as a share of the white (on the smallest channel)
_MIN_SHARE = 0.6  # the winner's share of the votes
_NEUTRAL_SATURATION = 0.28


class ColourReading(BaseModel):
    model_config = ConfigDict(frozen=True)

    colour: CodeColour
    confidence: float  # the winner's share of the module pixels' votes, 0 when nothing could be read
    detail: str = ""


def _unsure(detail: str) -> ColourReading:
    return ColourReading(colour=CodeColour.UNKNOWN, confidence=0.0, detail=detail)


def _square(frame: np.ndarray, corners: Sequence[tuple[float, float]]) -> np.ndarray:
    src = np.array(corners, np.float32)
    dst = np.array([[0, 0], [_SIDE, 0], [_SIDE, _SIDE], [0, _SIDE]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(frame, matrix, (_SIDE, _SIDE), flags=cv2.INTER_AREA)


def _votes(b: np.ndarray, g: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per pixel: 0 green, 1 yellow, 2 red, 3 grey, 4 other; from colours relative to the white."""
    top = np.maximum(np.maximum(b, g), r)
    low = np.minimum(np.minimum(b, g), r)
    saturation = (top - low) / np.maximum(top, 1e-3)
    hue = np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2.0 * r - g - b)) % 360.0
    votes = np.full(len(b), 4, np.int8)
    votes[(hue >= 85) & (hue <= 175)] = 0
    votes[(hue >= 33) & (hue <= 72)] = 1
    votes[(hue <= 20) | (hue >= 335)] = 2
    votes[saturation < _NEUTRAL_SATURATION] = 3
    return votes


_CLASSES = (CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED, CodeColour.GREY)


def classify(frame: np.ndarray, corners: Sequence[tuple[float, float]]) -> ColourReading:
    """The colour of the code at `corners` (four points) in the BGR `frame`."""
    if frame.ndim != 3:
        return _unsure("grey image: no colour")
    square = _square(frame, corners)
    smallest = square.min(axis=2)
    threshold, dark = cv2.threshold(smallest, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    is_dark = dark > 0
    count = int(np.count_nonzero(is_dark))
    if count < _MIN_PIXELS or is_dark.size - count < _MIN_PIXELS:
        return _unsure("too few module or background pixels")
    channels = [square[..., i] for i in range(3)]
    white = [max(float(np.median(c[~is_dark])), 1.0) for c in channels]
    contrast = 1.0 - float(np.median(smallest[is_dark])) / min(white)
    if contrast < _MIN_CONTRAST:
        return _unsure(f"too little contrast ({contrast:.2f})")
    b, g, r = (c[is_dark].astype(np.float32) / w for c, w in zip(channels, white, strict=True))
    votes = np.bincount(_votes(b, g, r), minlength=5)
    winner = int(votes[:4].argmax())
    share = float(votes[winner]) / float(votes.sum())
    if share < _MIN_SHARE:
        return _unsure(f"no clear colour (best {_CLASSES[winner].value} at {share:.0%})")
    return ColourReading(colour=_CLASSES[winner], confidence=share)
