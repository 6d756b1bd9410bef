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
_NEUTRAL = 0.2  # saturation (relative to the white) below which the modules are grey
_COLOURED = 0.3  # and above which they are coloured; between the two: unsure
_MIN_AGREEING = 0.5  # share of cells that must agree with the typical module colour
_CELL = 8  # pixels: the square is cut into cells of _CELL × _CELL
_MIN_CELLS = 12


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


def _hue_saturation(b: np.ndarray, g: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = np.maximum(np.maximum(b, g), r)
    low = np.minimum(np.minimum(b, g), r)
    saturation = (top - low) / np.maximum(top, 1e-3)
    hue = np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2.0 * r - g - b)) % 360.0
    return hue, saturation


def _votes(b: np.ndarray, g: np.ndarray, r: np.ndarray, neutral_below: float) -> np.ndarray:
    """Per colour: 0 green, 1 yellow, 2 red, 3 grey, 4 other (a hue between the classes)."""
    hue, saturation = _hue_saturation(b, g, r)
    votes = np.full(np.shape(b), 4, np.int8)
    votes[(hue >= 85) & (hue <= 175)] = 0
    votes[(hue >= 33) & (hue <= 72)] = 1
    votes[(hue <= 20) | (hue >= 335)] = 2
    votes[saturation < neutral_below] = 3
    votes[(saturation >= neutral_below) & (saturation < _COLOURED)] = 4  # neither grey nor coloured
    return votes


def _cell_means(
    channels: list[np.ndarray], is_dark: np.ndarray, white: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean module colour (relative to the white) in each 8×8 cell that holds enough module pixels.

    Averaging within a cell takes out sensor noise; keeping cells apart keeps a patch of glare to
    the cells it covers.
    """
    n = _SIDE // _CELL
    mask = is_dark.astype(np.float32).reshape(n, _CELL, n, _CELL)
    count = mask.sum(axis=(1, 3)).reshape(-1)
    keep = count >= _CELL
    means = []
    for channel, reference in zip(channels, white, strict=True):
        total = (channel.astype(np.float32).reshape(n, _CELL, n, _CELL) * mask).sum(axis=(1, 3)).reshape(-1)
        means.append(total[keep] / count[keep] / reference)
    return means[0], means[1], means[2]


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
    b, g, r = _cell_means(channels, is_dark, white)
    if len(b) < _MIN_CELLS:
        return _unsure("too few cells with modules")
    typical = int(
        _votes(np.median(b, keepdims=True), np.median(g, keepdims=True), np.median(r, keepdims=True), _NEUTRAL)[0]
    )
    if typical == 4:
        return _unsure("the modules' colour is between the classes")
    agreeing = float(np.mean(_votes(b, g, r, _NEUTRAL if typical == 3 else _COLOURED) == typical))
    if agreeing < _MIN_AGREEING:
        return _unsure(f"cells disagree ({_CLASSES[typical].value} in {agreeing:.0%} of them)")
    return ColourReading(colour=_CLASSES[typical], confidence=agreeing)
