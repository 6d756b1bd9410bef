"""Find and decode the QR codes in one camera frame, strongest approach first, within a time budget.

Theory of operation: a frame is offered to a list of steps in a measured order (bench/bench_qr.py
measures each one's gain on the corpus; docs/camera.md has the figures). The first step is exactly
zxing-cpp on the luma plane, so the pipeline never decodes less than zxing-cpp alone; the next ones
help where it fails on phone screens:

1. `zxing` — zxing-cpp, luma, its local-average binariser.
2. `zxing-min` — zxing-cpp on the smallest of the three channels. A coloured code on a white screen
   (yellow, above all) has its strongest contrast there; moiré and low light gain too.
3. `zxing-min-global` — the same plane with the global-histogram binariser: wins on moiré and noise.
4. `pyzbar-roi` — pyzbar (ZBar) on the regions where zxing saw a code it could not read (a checksum
   failure gives its position), luma and min planes. ZBar on a whole 1280×720 frame costs 40-60 ms,
   too much for a frame; on the region it costs a few.
5. `zxing-roi-x2` — those regions enlarged twice and flattened (divided by their own blur, which
   takes out glare gradients): small and blurred codes.

A step stops the search once it has found a code. Before each step after the first, the decoder
checks that the step's expected cost (a running average per frame size) still fits the frame's
budget; the first step always runs. zxing-cpp and pyzbar (ctypes) release the GIL while they work
(measured in docs/camera.md), so decoding in a thread leaves the agent's Python threads running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import zxingcpp
from pydantic import BaseModel, ConfigDict
from pyzbar import pyzbar

from drivers.camera.events import Corners

_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
_ROI_LIMIT = 2  # regions retried per frame
_ROI_MARGIN = 0.25  # share of the region's size added on every side
_ROI_ENLARGED = 640  # pixels: a region is enlarged up to twice, but not beyond this


class Found(BaseModel):
    """One decoded code: its text, where it is in the frame and which step read it."""

    model_config = ConfigDict(frozen=True)

    text: str
    corners: Corners  # top-left, top-right, bottom-right, bottom-left as the code is oriented
    decoder: str


class DecodeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    found: tuple[Found, ...]
    ms: float
    steps: tuple[str, ...]  # the steps that ran, in order
    skipped: tuple[str, ...] = ()  # the steps the budget left out


class Planes:
    """The grey planes of one frame, each computed once, on first use."""

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self.candidates: list[np.ndarray] = []  # 4×2 corner arrays of codes seen but not read
        self._cache: dict[str, np.ndarray] = {}

    def plane(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = _PLANES[name](self.frame)
        return self._cache[name]


def _luma(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _min_channel(frame: np.ndarray) -> np.ndarray:
    """min(B, G, R) per pixel. An erosion along the interleaved row: 15× faster than cv2.split."""
    if frame.ndim == 2:
        return frame
    h, w = frame.shape[:2]
    eroded = cv2.erode(frame.reshape(h, w * 3), np.ones((1, 3), np.uint8))
    return np.ascontiguousarray(eroded[:, 1::3])


_PLANES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"luma": _luma, "min": _min_channel}


def _zxing(
    image: np.ndarray,
    binarizer: zxingcpp.Binarizer,
    planes: Planes | None,
    offset: np.ndarray,
    scale: float,
    name: str,
    invert: bool = False,
) -> list[Found]:
    found = []
    for result in zxingcpp.read_barcodes(
        image, formats=_QR, try_rotate=False, try_invert=invert, binarizer=binarizer, return_errors=True
    ):
        p = result.position
        corners = (
            np.array([[q.x, q.y] for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)], np.float32) / scale
            + offset
        )
        if result.valid and result.text:
            found.append(Found(text=result.text, corners=_corners(corners), decoder=name))
        elif planes is not None and len(planes.candidates) < _ROI_LIMIT:
            planes.candidates.append(corners)
    return found


def _corners(points: np.ndarray) -> Corners:
    return tuple((float(x), float(y)) for x, y in points)  # type: ignore[return-value]


def _pyzbar(image: np.ndarray, offset: np.ndarray, name: str) -> list[Found]:
    found = []
    for symbol in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        try:
            text = symbol.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        poly = np.array([(pt.x, pt.y) for pt in symbol.polygon], np.float32)
        if len(poly) != 4 or not text:
            continue
        found.append(Found(text=text, corners=_corners(poly + offset), decoder=name))
    return found


def _regions(planes: Planes, plane: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Crops around the candidate codes (with a margin), each with its top-left offset."""
    image = planes.plane(plane)
    h, w = image.shape[:2]
    crops = []
    for corners in planes.candidates:
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        pad = (hi - lo) * _ROI_MARGIN + 8
        x0, y0 = (int(v) for v in np.maximum(lo - pad, 0))
        x1, y1 = int(min(w, hi[0] + pad[0])), int(min(h, hi[1] + pad[1]))
        if x1 - x0 >= 16 and y1 - y0 >= 16:
            crops.append((image[y0:y1, x0:x1], np.array([x0, y0], np.float32)))
    return crops


def _flatten(image: np.ndarray) -> np.ndarray:
    """Divide by a heavy blur of itself: evens out glare and shading gradients across the code.

    The blur is taken on an eighth-size copy (a wide Gaussian at full size costs 100× more).
    """
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(4, w // 8), max(4, h // 8)), interpolation=cv2.INTER_AREA)
    background = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(small.shape) / 12), (w, h))
    return cv2.divide(image, background, scale=200)


StepFn = Callable[[Planes], list[Found]]


def _zxing_step(plane: str, binarizer: zxingcpp.Binarizer, name: str, invert: bool = False) -> StepFn:
    origin = np.array([0, 0], np.float32)
    return lambda planes: _zxing(planes.plane(plane), binarizer, planes, origin, 1.0, name, invert)


def _pyzbar_roi(planes: Planes) -> list[Found]:
    for plane in ("luma", "min"):
        for crop, offset in _regions(planes, plane):
            found = _pyzbar(crop, offset, "pyzbar-roi")
            if found:
                return found
    return []


def _zxing_roi_x2(planes: Planes) -> list[Found]:
    for crop, offset in _regions(planes, "min"):
        scale = min(2.0, _ROI_ENLARGED / max(crop.shape))
        big = cv2.resize(_flatten(crop), None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        found = _zxing(big, zxingcpp.Binarizer.LocalAverage, None, offset, scale, "zxing-roi-x2")
        if found:
            return found
    return []


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFn


STEPS: tuple[Step, ...] = (
    Step("zxing", _zxing_step("luma", zxingcpp.Binarizer.LocalAverage, "zxing", invert=True)),
    Step("zxing-min", _zxing_step("min", zxingcpp.Binarizer.LocalAverage, "zxing-min")),
    Step("zxing-min-global", _zxing_step("min", zxingcpp.Binarizer.GlobalHistogram, "zxing-min-global")),
    Step("pyzbar-roi", _pyzbar_roi),
    Step("zxing-roi-x2", _zxing_roi_x2),
)


@dataclass
class _Cost:
    """Running average of a step's cost in ms, per frame size."""

    ms: dict[tuple[int, int], float] = field(default_factory=dict)

    def expect(self, shape: tuple[int, int]) -> float:
        return self.ms.get(shape, 0.0)

    def record(self, shape: tuple[int, int], ms: float) -> None:
        old = self.ms.get(shape)
        self.ms[shape] = ms if old is None else 0.8 * old + 0.2 * ms


class Decoder:
    """Decodes frames (BGR or grey numpy arrays) within `budget_ms` each, after the first step.

    Not thread-safe (it learns step costs as it goes): one decoder per worker thread.
    """

    def __init__(self, budget_ms: float = 15.0, steps: Sequence[Step] = STEPS) -> None:
        self.budget_ms = budget_ms
        self.steps = tuple(steps)
        self._costs = {step.name: _Cost() for step in self.steps}

    def decode(self, frame: np.ndarray) -> DecodeResult:
        start = time.perf_counter()
        planes = Planes(frame)
        shape = (int(frame.shape[0]), int(frame.shape[1]))
        ran: list[str] = []
        skipped: list[str] = []
        found: list[Found] = []
        for i, step in enumerate(self.steps):
            elapsed = (time.perf_counter() - start) * 1000
            if i and elapsed + self._costs[step.name].expect(shape) > self.budget_ms:
                skipped.append(step.name)
                continue
            t0 = time.perf_counter()
            found = step.run(planes)
            self._costs[step.name].record(shape, (time.perf_counter() - t0) * 1000)
            ran.append(step.name)
            if found:
                break
        ms = (time.perf_counter() - start) * 1000
        return DecodeResult(found=tuple(_unique(found)), ms=ms, steps=tuple(ran), skipped=tuple(skipped))


def _unique(found: list[Found]) -> list[Found]:
    seen: set[str] = set()
    out = []
    for item in found:
        if item.text not in seen:
            seen.add(item.text)
            out.append(item)
    return out
