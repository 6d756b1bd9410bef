"""Pictures of a phone showing a health-code page, as a camera in front of it would see them.

Theory of operation: `health_page` draws the app's page in screen pixels (a title bar, the QR code
drawn in the status colour, a banner in the same colour, a few lines of text); `phone_image` puts a
bezel around it; `place` warps that picture onto a camera frame through the four corners of a
quadrilateral (the phone held at an angle) and returns where the code's own corners landed, the
ground truth a test or a benchmark checks against. `backdrop` draws the scene behind the phone.

The simulated scene (scene.py) and the benchmark corpus (bench/qr_corpus.py) both draw with these
functions, so what the tests see and what the benchmark measures are the same pictures.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import segno

from contract.messages import CodeColour

Quad = np.ndarray
"""Four corners (x, y) as a float32 array of shape (4, 2): top-left, top-right, bottom-right, bottom-left."""

COLOUR_BGR: dict[CodeColour, tuple[int, int, int]] = {
    CodeColour.GREEN: (80, 176, 0),  # #00B050, the green most provincial apps used
    CodeColour.YELLOW: (0, 192, 255),  # #FFC000, amber-yellow: little contrast against white
    CodeColour.RED: (53, 57, 229),  # #E53935
    CodeColour.GREY: (128, 128, 128),
    CodeColour.UNKNOWN: (0, 0, 0),  # a plain black code, as any other app draws it
}
_APP_BAR_BGR = (219, 152, 52)  # the blue title bar of a typical mini-program
_TEXT_BGR = (51, 51, 51)
PAGE_SIZE = (540, 1080)  # width, height: half the pixels of a 1080p phone
QUIET_MODULES = 4


@functools.lru_cache(maxsize=32)
def qr_modules(payload: str) -> np.ndarray:
    """The code's modules as a read-only bool matrix (True = dark), quiet zone included. ECC level M."""
    qr = segno.make_qr(payload, error="m", boost_error=False)
    matrix = np.pad(np.array(qr.matrix, dtype=bool), QUIET_MODULES, constant_values=False)
    matrix.flags.writeable = False
    return matrix


def shaded(colour: CodeColour, rng: np.random.Generator | None) -> tuple[int, int, int]:
    """The colour's BGR, varied a little (apps and screens differ) when `rng` is given."""
    base = np.array(COLOUR_BGR[colour], dtype=float)
    if rng is None:
        return tuple(int(v) for v in base)  # type: ignore[return-value]
    varied = base * rng.uniform(0.85, 1.05) + rng.uniform(-12, 12, 3)
    return tuple(int(v) for v in np.clip(varied, 0, 255))  # type: ignore[return-value]


def health_page(
    payload: str, colour: CodeColour, rng: np.random.Generator | None = None, subject: str = "Zhang*"
) -> tuple[np.ndarray, Quad]:
    """The app's page in screen pixels (BGR, PAGE_SIZE) and the code's corners on it."""
    width, height = PAGE_SIZE
    page = np.full((height, width, 3), 255, np.uint8)
    ink = shaded(colour, rng)
    cv2.rectangle(page, (0, 0), (width, 90), _APP_BAR_BGR, -1)
    cv2.putText(page, "Health Code", (150, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(page, subject, (40, 150), cv2.FONT_HERSHEY_SIMPLEX, 1.0, _TEXT_BGR, 2, cv2.LINE_AA)
    cv2.putText(page, "2022-05-14 09:31:07", (40, 195), cv2.FONT_HERSHEY_SIMPLEX, 0.8, _TEXT_BGR, 1, cv2.LINE_AA)
    modules = qr_modules(payload)
    side = 440 // modules.shape[0] * modules.shape[0]
    side = side if side >= modules.shape[0] * 2 else modules.shape[0] * 2
    drawn = np.where(modules[..., None], np.array(ink, np.uint8), np.uint8(255)).astype(np.uint8)
    code = cv2.resize(drawn, (side, side), interpolation=cv2.INTER_NEAREST)
    x0, y0 = (width - side) // 2, 230
    page[y0 : y0 + side, x0 : x0 + side] = code[: height - y0]
    banner_y = y0 + side + 30
    cv2.rectangle(page, (40, banner_y), (width - 40, banner_y + 80), ink, -1)
    label = colour.value.upper() if colour is not CodeColour.UNKNOWN else "CODE"
    cv2.putText(page, label, (190, banner_y + 55), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3, cv2.LINE_AA)
    for i, line in enumerate(("Nucleic acid: negative 48h", "Vaccinated: 3 doses")):
        y = banner_y + 140 + 45 * i
        cv2.putText(page, line, (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, _TEXT_BGR, 1, cv2.LINE_AA)
    q = QUIET_MODULES * side / modules.shape[0]
    corners = np.array(
        [[x0 + q, y0 + q], [x0 + side - q, y0 + q], [x0 + side - q, y0 + side - q], [x0 + q, y0 + side - q]],
        np.float32,
    )
    return page, corners


def phone_image(page: np.ndarray, bezel: int = 24) -> tuple[np.ndarray, tuple[int, int]]:
    """The page inside a dark bezel with rounded corners; returns the image and the page's offset."""
    h, w = page.shape[:2]
    phone = np.full((h + 2 * bezel, w + 2 * bezel, 3), 18, np.uint8)
    phone[bezel : bezel + h, bezel : bezel + w] = page
    return phone, (bezel, bezel)


def phone_quad(
    frame_size: tuple[int, int],
    rng: np.random.Generator,
    height_share: float,
    tilt: float,
    turn_deg: float = 0.0,
) -> Quad:
    """Where the phone lands in a frame: its height a share of the frame's, tilted and turned.

    `tilt` (0..0.5) moves each corner by up to that share of the phone's width (perspective, as a
    hand holds a phone); the phone is turned by up to `turn_deg` degrees either way.
    """
    fw, fh = frame_size
    ph = fh * height_share
    pw = ph * (PAGE_SIZE[0] + 48) / (PAGE_SIZE[1] + 48)
    cx = rng.uniform(pw / 2 + 4, max(pw / 2 + 5, fw - pw / 2 - 4))
    cy = rng.uniform(ph / 2 + 4, max(ph / 2 + 5, fh - ph / 2 - 4))
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * np.array([pw / 2, ph / 2], np.float32)
    corners += rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * pw
    angle = np.deg2rad(rng.uniform(-turn_deg, turn_deg))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    return (corners @ rotation.T + np.array([cx, cy], np.float32)).astype(np.float32)


def place(frame: np.ndarray, image: np.ndarray, quad: Quad, points: Quad, prescale: bool = True) -> Quad:
    """Warp `image` onto `frame` (in place) so its corners land on `quad`; return where `points` land.

    With `prescale` the image is first shrunk to about its size in the frame with area averaging, as
    a camera's optics would; without it the warp samples the screen's pixel grid directly (moiré).
    """
    h, w = image.shape[:2]
    target_h = float(np.linalg.norm(quad[3] - quad[0]))
    factor = min(1.0, target_h / h) if prescale else 1.0
    if factor < 1.0:
        image = cv2.resize(image, (max(2, round(w * factor)), max(2, round(h * factor))), interpolation=cv2.INTER_AREA)
        points = points * np.float32(image.shape[1] / w)
        h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    size = (frame.shape[1], frame.shape[0])
    cv2.warpPerspective(image, matrix, size, dst=frame, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float32), matrix).reshape(-1, 2)


def backdrop(frame_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A plausible scene behind the phone: a lit gradient and a few soft shapes (drawn small, enlarged)."""
    fw, fh = frame_size
    sw, sh = max(8, fw // 4), max(8, fh // 4)
    base = rng.uniform(60, 180, 3)
    ramp = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), sw, dtype=np.float32)
    small = (base[None, None, :] * ramp[None, :, None] * np.ones((sh, 1, 1), np.float32)).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        x, y = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        w, h = int(rng.integers(sw // 20 + 1, sw // 3)), int(rng.integers(sh // 20 + 1, sh // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.rectangle(small, (x, y), (x + w, y + h), colour, -1)
        else:
            cv2.ellipse(small, (x, y), (w // 2, h // 2), float(rng.uniform(0, 180)), 0, 360, colour, -1)
    soft = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.3, 1.0))
    return cv2.resize(soft, (fw, fh), interpolation=cv2.INTER_LINEAR)


def photograph(
    background: np.ndarray, page: np.ndarray, code_corners: Quad, quad: Quad, prescale: bool = True
) -> tuple[np.ndarray, Quad]:
    """The phone showing `page`, held at `quad` in front of `background`; and the code's corners."""
    phone, offset = phone_image(page)
    frame = background.copy()
    corners = place(frame, phone, quad, code_corners + np.array(offset, np.float32), prescale)
    return frame, corners
