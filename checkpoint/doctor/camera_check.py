"""Open the camera as the agent would, and report its resolution, its frame rate and a test decode.

The source is a V4L2 device (/dev/checkpoint-camera, /dev/video0), an index, or a video file (the
tests use a file of rendered health-code frames). Frames are read for `seconds`; each is offered to
the agent's QR decoder until one code is read. Its text is not shown (it may identify a person).
"""

from __future__ import annotations

import time

from checkpoint.doctor.report import Check, State


def camera(source: str, seconds: float = 2.0) -> list[Check]:
    import cv2

    from drivers.camera.decode import Decoder

    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    try:
        if not capture.isOpened():
            return [Check("camera", State.FAIL, f"{source}: cannot open (plugged in? user in the video group?)")]
        decoder = Decoder(budget_ms=200.0)
        frames, decoded, shape = 0, None, None
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            ok, frame = capture.read()
            if not ok:
                break
            frames += 1
            shape = frame.shape
            if decoded is None and (found := decoder.decode(frame).found):
                decoded = found[0]
        elapsed = time.monotonic() - start
    finally:
        capture.release()
    if shape is None:
        return [Check("camera", State.FAIL, f"{source}: opened, but no frame came")]
    rate = frames / elapsed if elapsed > 0 else 0.0
    checks = [Check("camera", State.OK, f"{source}: {shape[1]}×{shape[0]}, {rate:.1f} frames/s measured")]
    if decoded is None:
        checks.append(Check("test decode", State.WARN,
                            "no QR code read: hold a health code 20-40 cm in front of the camera and run again"))
    else:
        detail = f"QR code read ({len(decoded.text)} characters, by {decoded.decoder})"
        checks.append(Check("test decode", State.OK, detail))
    return checks
