"""Open the camera as the agent does, and report its resolution, its frame rate and a test decode.

The source is whatever the box's `camera:` section (drivers.camera.capture.CameraConfig) names —
a V4L2 device, a stream, a video file or a folder of images (the tests use rendered frames) — opened
through the driver's own `open_source`. Frames are read for `seconds`; each is offered to the
driver's QR decoder until one code is read. The code's text is not shown (it may identify a person).
"""

from __future__ import annotations

import time

from checkpoint.doctor.report import Check, State
from drivers.camera.capture import CameraConfig, CaptureError, open_source
from drivers.camera.login import redact


def camera(config: CameraConfig, seconds: float = 2.0) -> list[Check]:
    from drivers.camera.decode import Decoder

    name = f"camera {redact(config.source)}"
    try:
        source = open_source(config)
        source.open()
    except (CaptureError, ValueError) as exc:
        return [Check(name=name, state=State.FAIL, detail=f"{exc} (plugged in? the user in the video group?)")]
    decoder = Decoder(budget_ms=max(config.decode_budget_ms, 200.0))  # no hurry here: read it if it can be read
    frames, decoded, shape = 0, None, None
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            frame = source.read()
            if frame is None:
                break
            frames, shape = frames + 1, frame.shape
            if decoded is None and (found := decoder.decode(frame).found):
                decoded = found[0]
    except CaptureError as exc:
        return [Check(name=name, state=State.FAIL, detail=f"opened, then: {exc}")]
    finally:
        source.close()
    if shape is None:
        return [Check(name=name, state=State.FAIL, detail="opened, but no frame came")]
    rate = frames / max(time.monotonic() - start, 1e-6)
    checks = [
        Check(
            name=name,
            state=State.OK,
            detail=f"{shape[1]}×{shape[0]}, {rate:.1f} frames/s measured "
            f"(asked for {config.width}×{config.height} at {config.fps:g})",
        )
    ]
    if decoded is None:
        checks.append(
            Check(
                name="test decode",
                state=State.WARN,
                detail="no QR code read: hold a health code 20-40 cm in front of the camera and run again",
            )
        )
    else:
        detail = f"QR code read ({len(decoded.text)} characters, by {decoded.decoder})"
        checks.append(Check(name="test decode", state=State.OK, detail=detail))
    return checks
