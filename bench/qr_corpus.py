"""A synthetic corpus of phone screens showing health codes, as a checkpoint camera sees them.

Theory of operation: every sample is drawn from its own generator seeded with (seed, index), so the
corpus is the same on every machine and any one sample can be regenerated alone. A sample is a
phone (drivers/camera/render.py) held in front of a backdrop, then degraded as its category says:
perspective, blur, exposure (with a white-balance cast), glare, moiré, noise, JPEG, low light, a
small code far from the camera — or no code at all (`empty`, for false decodes). Every sample also
gets a mild colour cast and sensor noise, as no camera is neutral. Payloads alternate between
short URL/token codes (QR versions 3-5) and signed CKHC1 payloads (versions 10-11).

`ensure(directory, ...)` writes the images (PNG) with their ground truth beside each (`.json`) once
and reuses them; the corpus is not committed — it is regenerated from the seed into a cache folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from agent.healthcode.signed_format import Claims, encode
from contract.messages import CodeColour
from drivers.camera import render

CATEGORIES = (
    "clean",
    "perspective",
    "blur",
    "exposure",
    "glare",
    "moire",
    "noise",
    "jpeg",
    "lowlight",
    "small",
    "empty",
)
COLOURS = (CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED, CodeColour.GREY)
SIZES = ((640, 480), (1280, 720))
VERSION = 1  # bump when the drawing or the degradations change: cached corpora are then regenerated
ISSUED = 1652491867  # 2022-05-14 01:31:07 UTC: fixed, so payloads are the same on every run


class Truth(BaseModel):
    """What a sample shows: written beside each image as JSON."""

    category: str
    width: int
    height: int
    text: str | None  # None: no code in the frame
    colour: CodeColour | None
    corners: list[tuple[float, float]] | None


class Sample(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    name: str
    image: np.ndarray
    truth: Truth


def issuer_key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"corpus-issuer-{seed}".encode()).digest())


def payload(rng: np.random.Generator, key: Ed25519PrivateKey, colour: CodeColour) -> str:
    if rng.random() < 0.5:
        token = "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"), 24))
        host = rng.choice(["hc.gd.gov.cn/c/", "jkm.example.gov.cn/q?t=", "ssm.example.cn/v2/"])
        return f"https://{host}{token}"
    colour_name = colour.value if colour is not CodeColour.UNKNOWN else "grey"
    claims = Claims(
        iss="corpus-cdc",
        sub=bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex(),
        col=colour_name,  # type: ignore[arg-type]
        iat=ISSUED,
        exp=ISSUED + 7 * 86400,
        nat={"at": ISSUED - 30 * 3600, "res": "negative"},  # type: ignore[arg-type]
        vac=int(rng.integers(0, 4)),
    )
    return encode(claims, key)


def _cast(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A white-balance error: each channel scaled by up to `strength` either way."""
    gains = 1.0 + rng.uniform(-strength, strength, 3)
    return cv2.transform(image, np.diag(gains))


def _noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def _glare(image: np.ndarray, rng: np.random.Generator, corners: np.ndarray) -> np.ndarray:
    """A reflected lamp: a bright soft ellipse near the code, clipping to white at its centre."""
    h, w = image.shape[:2]
    centre = corners.mean(axis=0) + rng.uniform(-0.5, 0.5, 2) * np.ptp(corners, axis=0)
    size = float(np.ptp(corners[:, 0])) * rng.uniform(0.12, 0.35)
    mask = np.zeros((h, w), np.float32)
    axes = (max(2, int(size)), max(2, int(size * rng.uniform(0.3, 1.0))))
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(mask, (0, 0), size * 0.35 + 1)
    light = np.asarray(soft * (255.0 * rng.uniform(0.8, 1.6) / max(float(soft.max()), 1e-6)), np.float32)
    return cv2.add(image, cv2.merge([light] * 3), dtype=cv2.CV_8U)


def _moire(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Interference between the screen's pixel grid and the sensor's: a fine, slanted grating."""
    h, w = image.shape[:2]
    angle, period = rng.uniform(-0.4, 0.4), rng.uniform(2.5, 7.0)
    fx = np.arange(w, dtype=np.float32) * np.float32(np.cos(angle) * 2 * np.pi / period)
    fy = np.arange(h, dtype=np.float32) * np.float32(np.sin(angle) * 2 * np.pi / period)
    wave = np.outer(np.cos(fy), np.sin(fx)) + np.outer(np.sin(fy), np.cos(fx))  # sin(fx + fy)
    depth = np.float32(rng.uniform(0.12, 0.3))
    gain = (1.0 - depth / 2 + depth / 2 * wave).astype(np.float32)
    return cv2.multiply(image, cv2.merge([gain, gain, gain]), dtype=cv2.CV_8U)


def _blur(image: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 2.2) * scale)
    length = max(3, int(rng.uniform(5, 11) * scale))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    turned = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, np.asarray(turned / max(float(turned.sum()), 1e-6), np.float32))


def _exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(1.5, 2.3) if rng.random() < 0.5 else rng.uniform(0.35, 0.55)
    return _cast(cv2.convertScaleAbs(image, alpha=gain), rng, 0.25)


def _lowlight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = cv2.convertScaleAbs(image, alpha=rng.uniform(0.12, 0.25))
    return _noise(dark, rng, rng.uniform(3, 7))


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(8, 30))])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return decoded


def _share_for_pitch(modules: int, frame_h: int, pitch: float) -> float:
    """The phone's share of the frame height that gives the code `pitch` pixels per module."""
    page_code_share = (440 // modules * modules) / (render.PAGE_SIZE[1] + 48)
    return modules * pitch / (frame_h * page_code_share)


def sample(seed: int, index: int, category: str, size: tuple[int, int], colour: CodeColour) -> Sample:
    rng = np.random.default_rng([seed, index])
    width, height = size
    background = render.backdrop(size, rng)
    if category == "empty":
        page = np.full((render.PAGE_SIZE[1], render.PAGE_SIZE[0], 3), 255, np.uint8)
        cv2.putText(page, "Scan failed", (60, 500), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (60, 60, 60), 3, cv2.LINE_AA)
        quad = render.phone_quad(size, rng, rng.uniform(0.5, 0.95), 0.08, 20)
        frame = render.photograph(background, page, np.zeros((4, 2), np.float32), quad)[0]
        frame = _noise(_cast(frame, rng, 0.1), rng, rng.uniform(2, 14))
        name = f"{index:05d}-{category}-{width}x{height}"
        return Sample(
            name=name,
            image=frame,
            truth=Truth(category=category, width=width, height=height, text=None, colour=None, corners=None),
        )
    text = payload(rng, issuer_key(seed), colour)
    page, code = render.health_page(text, colour, rng)
    modules = render.qr_modules(text).shape[0] - 2 * render.QUIET_MODULES
    if category == "small":
        share = _share_for_pitch(modules, height, rng.uniform(1.8, 2.6))
    else:
        share = max(rng.uniform(0.6, 0.95), min(0.98, _share_for_pitch(modules, height, 2.8)))
    tilt, turn = (rng.uniform(0.1, 0.2), 40.0) if category == "perspective" else (0.04, 12.0)
    quad = render.phone_quad(size, rng, share, tilt, turn)
    frame, corners = render.photograph(background, page, code, quad, prescale=category != "moire")
    frame = _cast(frame, rng, 0.08)
    scale = height / 720
    degrade = {
        "blur": lambda f: _blur(f, rng, scale),
        "exposure": lambda f: _exposure(f, rng),
        "glare": lambda f: _glare(f, rng, corners),
        "moire": lambda f: _moire(f, rng),
        "noise": lambda f: _noise(f, rng, rng.uniform(12, 24)),
        "jpeg": lambda f: _jpeg(f, rng),
        "lowlight": lambda f: _lowlight(f, rng),
    }.get(category)
    if degrade is not None:
        frame = degrade(frame)
    if category not in ("noise", "lowlight"):
        frame = _noise(frame, rng, rng.uniform(1.5, 4))
    name = f"{index:05d}-{category}-{width}x{height}"
    truth = Truth(
        category=category,
        width=width,
        height=height,
        text=text,
        colour=colour,
        corners=[(float(x), float(y)) for x, y in corners],
    )
    return Sample(name=name, image=frame, truth=truth)


def plan(per_cell: int) -> Iterator[tuple[str, tuple[int, int], CodeColour]]:
    """Every (category, size, colour) `per_cell` times: the corpus's layout."""
    for category in CATEGORIES:
        for size in SIZES:
            for colour in COLOURS:
                for _ in range(per_cell):
                    yield category, size, colour


def generate(seed: int, per_cell: int) -> Iterator[Sample]:
    for index, (category, size, colour) in enumerate(plan(per_cell)):
        yield sample(seed, index, category, size, colour)


def ensure(directory: Path, seed: int, per_cell: int) -> Path:
    """The corpus for (seed, per_cell) under `directory`, generated on first use; returns its folder."""
    folder = Path(directory) / f"v{VERSION}-seed{seed}-n{per_cell}"
    done = folder / "COMPLETE"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for item in generate(seed, per_cell):
        if not cv2.imwrite(str(folder / f"{item.name}.png"), item.image):
            raise OSError(f"could not write {folder / item.name}.png")
        (folder / f"{item.name}.json").write_text(item.truth.model_dump_json())
    done.write_text("")
    return folder


def load(folder: Path) -> Iterator[Sample]:
    for truth_path in sorted(Path(folder).glob("*.json")):
        image = cv2.imread(str(truth_path.with_suffix(".png")), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"could not read {truth_path.with_suffix('.png')}")
        truth = Truth.model_validate_json(truth_path.read_text())
        yield Sample(name=truth_path.stem, image=image, truth=truth)
