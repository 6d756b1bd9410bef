"""Camera streams: how old is the frame the decoder sees, over RTSP and over HTTP MJPEG?

A FrameFeed plays a 1280x720 camera at 15 frames/s, stamping each frame with the time it was
"captured" (drivers/sim/camera_streams); GStreamer's RTSP server (H.264) or ffmpeg's MJPEG server
sends it to the driver's own FrameGrabber, exactly as configured on a box (one FFmpeg decoder
thread). The decoding thread takes the newest frame, reads its stamp (age = now - capture) and
decodes it with the real decoder, so the pace is the agent's. The baseline, measured in the same
run, is the stream's frame interval: the gap between consecutive frames' capture stamps. A frame
cannot be younger than the transport and decoding take; at most a frame or two of queueing is the
goal. Also measured: the same RTSP stream with FFmpeg left to one decoder thread per core (what
the driver did before), and the age of the first frame handed on after connecting (the probe's
backlog is skipped).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.harness import Figure, percentile
from checkpoint.broker import free_port
from drivers.camera.capture import CameraConfig, FrameGrabber, open_source
from drivers.camera.decode import Decoder
from drivers.sim.camera_streams import FrameFeed, MjpegCamera, RtspCamera, phone_picture, read_stamp

SIZE = (1280, 720)
FPS = 15.0


@contextmanager
def _served(kind: str) -> Iterator[str]:
    feed = FrameFeed(phone_picture(size=SIZE)[0], FPS).start()
    server: RtspCamera | MjpegCamera = (
        RtspCamera(feed, free_port(), keyint=30) if kind == "rtsp" else MjpegCamera(feed, free_port())
    )
    server.start()
    try:
        yield server.url()
    finally:
        server.kill()
        feed.stop()


def _measure(url: str, seconds: float, threads: int = 1) -> tuple[list[float], list[float], float | None]:
    """(ages of the frames decoded, ms; capture intervals between consecutive frames, ms; first frame's age)."""
    config = CameraConfig(source=url, width=SIZE[0], height=SIZE[1], fps=FPS, decoder_threads=threads)
    grabber = FrameGrabber(config, open_source(config), lambda _e: None)
    decoder = Decoder(budget_ms=config.decode_budget_ms)
    ages: list[float] = []
    intervals: list[float] = []
    first: float | None = None
    previous: tuple[int, int] | None = None  # (seq, stamp)
    grabber.start()
    try:
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            frame = grabber.latest(timeout=20)
            if frame is None:
                raise RuntimeError(f"no frame from {url} in 20 s")
            stamp = read_stamp(frame.image)
            if stamp is None:
                continue
            age = (int(time.monotonic() * 1000) - stamp) & 0xFFFFFFFF
            if first is None:
                first, deadline = float(age), time.monotonic() + seconds
            ages.append(float(age))
            if previous is not None and frame.seq == previous[0] + 1:
                intervals.append(float((stamp - previous[1]) & 0xFFFFFFFF))
            previous = (frame.seq, stamp)
            decoder.decode(frame.image)
    finally:
        grabber.stop()
    return ages, intervals, first


def _figures(kind: str, label: str, seconds: float) -> list[Figure]:
    with _served(kind) as url:
        ages, intervals, first = _measure(url, seconds)
    interval = statistics.median(intervals)
    base = f"stream's frame interval (median gap between capture stamps, {len(intervals)} gaps)"
    p50, p95 = percentile(ages, 50), percentile(ages, 95)
    return [
        Figure(
            bench="camera",
            name=f"{label}: age of the frame the decoder sees, p50 ({len(ages)} frames)",
            value=p50,
            unit="ms",
            baseline_name=base,
            baseline=interval,
            higher_is_better=False,
        ),
        Figure(
            bench="camera",
            name=f"{label}: age of the frame the decoder sees, p95",
            value=p95,
            unit="ms",
            baseline_name=base,
            baseline=interval,
            higher_is_better=False,
            target="p95 ≤ 3 frame intervals",
            met=p95 <= 3 * interval,
        ),
        Figure(
            bench="camera",
            name=f"{label}: age of the first frame handed on after connecting",
            value=first or 0.0,
            unit="ms",
            baseline_name=base,
            baseline=interval,
            higher_is_better=False,
        ),
    ]


def _threads_figure(seconds: float) -> Figure:
    with _served("rtsp") as url:
        one, intervals, _ = _measure(url, seconds, threads=1)
        per_core, _, _ = _measure(url, seconds, threads=0)
    return Figure(
        bench="camera",
        name="RTSP H.264: frame age p50 with FFmpeg's default threads (one per core)",
        value=percentile(per_core, 50),
        unit="ms",
        baseline_name="one decoder thread (the driver's default), same stream",
        baseline=percentile(one, 50),
        higher_is_better=False,
    )


def run(quick: bool) -> list[Figure]:
    seconds = 5.0 if quick else 30.0
    figures = _figures("rtsp", "RTSP H.264 1280×720 15 fps (GStreamer)", seconds)
    figures += _figures("mjpeg", "HTTP MJPEG 1280×720 15 fps (ffmpeg)", seconds)
    figures.append(_threads_figure(seconds / 2))
    return figures
