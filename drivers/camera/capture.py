"""Frames from a camera, always the newest: a grabber thread reads, the decoder takes the latest.

Theory of operation: `CameraConfig.source` names a V4L2 device (`0`, `/dev/video0`), a stream
(`rtsp://…`, `http://…`), a video file, a folder of images, or `sim:` (a PhoneScene rendered in
process). `open_source` turns it into a `FrameSource`. `FrameGrabber` runs the source in a thread of
its own and keeps only the newest frame in a one-frame slot: when decoding is slower than the
camera, older frames are dropped (and counted), never queued, so a decision is always made on what
is in front of the camera now. When the source fails to open within `connect_s` (long enough to
wait for a key frame), stops delivering for `stall_s`, or errors, the grabber reports the device
DISCONNECTED in words (and logs it), waits (drivers.base.Backoff, interruptible), and opens it again;
the first frame after that reports OK. A camera that refuses the login (401) is reported as such and
asked again only every `login_retry_s`, since cameras lock an account after a few failed logins.

Streams: FFmpeg buffers what it read while probing a new stream (up to ~2 s); the frames that come
out faster than the stream's frame rate right after connecting are that backlog and are skipped
(`stale`), so nothing old is decoded as if current. FFmpeg's decoder runs `decoder_threads` threads:
each thread adds a frame of delay, so one is the default. A frame's capture time comes from the
stream's own timestamps where it has them (StreamClock), else it is the time it was read. Files and
folders start over at their end (`loop_files`), so a recorded clip can stand in for a camera.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drivers.base import Backoff, DeviceHealth, DeviceKind, HealthState
from drivers.camera.login import redact, refused_login

if TYPE_CHECKING:
    from drivers.camera.scene import PhoneScene

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class CameraConfig(BaseModel):
    """One camera. `source`: a V4L2 index or device path, a stream URL, a video file, an image
    folder, or `sim:` for the simulated phone scene (pass the scene to `Camera`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "camera0"
    source: str = "0"
    width: int = Field(default=1280, ge=64, le=4096)
    height: int = Field(default=720, ge=48, le=4096)
    fps: float = Field(default=15.0, gt=0, le=120)  # asked of the camera; paces files, folders and sim:
    decode_budget_ms: float = Field(default=15.0, gt=0, le=1000)
    debounce_s: float = Field(default=4.0, ge=0, le=60)
    stall_s: float = Field(default=3.0, gt=0)  # no frame for this long: the camera is treated as gone
    connect_s: float = Field(default=15.0, gt=0)  # to open a stream: up to a key frame (some send one every 10 s)
    decoder_threads: int = Field(default=1, ge=0, le=16)  # FFmpeg's; 0 = one per core, each a frame later
    login_retry_s: float = Field(default=60.0, gt=0)  # after a refused login (cameras lock accounts)
    reconnect_first_s: float = Field(default=0.5, gt=0)
    reconnect_cap_s: float = Field(default=5.0, gt=0)
    loop_files: bool = True


CATCH_UP_S = 3.0  # longest spent skipping a new stream's backlog


class CaptureError(Exception):
    """The source could not be opened or stopped delivering (the device's fault, retried)."""


class LoginRefused(CaptureError):
    """The camera answered 401: the user name or password in `source` is wrong."""


class FrameSource(ABC):
    """A blocking supplier of BGR frames. `read` returns None at the end of a finite source."""

    paced = False  # True when frames come as fast as asked: the grabber then sleeps 1/fps between reads
    live = False  # a stream: frames may queue up behind the decoder while connecting
    pts_s: float | None = None  # the last frame's timestamp on the stream's clock, when it has one
    frame_interval_s: float | None = None  # the stream's own, when it says

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> np.ndarray | None: ...

    @abstractmethod
    def close(self) -> None: ...


class OpenCvSource(FrameSource):
    """A V4L2 device, a stream or a video file, through cv2.VideoCapture."""

    def __init__(
        self, target: int | str, config: CameraConfig, api: int | None = None, params: tuple[int, ...] = ()
    ) -> None:
        self.target, self.config, self.api, self.params = target, config, api, params
        self.paced = isinstance(target, str) and Path(target).is_file()
        self.live = isinstance(target, str) and target.lower().startswith(STREAM_SCHEMES)
        self.name = redact(target) if isinstance(target, str) else str(target)
        self._capture: object | None = None
        self._last_frame = 0.0

    def open(self) -> None:
        import cv2

        if self.api is None:
            capture = cv2.VideoCapture(self.target)
        else:
            capture = cv2.VideoCapture(self.target, self.api, list(self.params))
        if not capture.isOpened():
            capture.release()
            refused = self.live and refused_login(str(self.target), min(self.config.connect_s, 5.0))
            if refused:
                raise LoginRefused(
                    f"{self.name} refused the login (401): wrong user name or password; "
                    "correct them in camera.source or on the camera"
                )
            if self.live:
                raise CaptureError(f"cannot connect to {self.name}: no stream within {self.config.connect_s:g} s")
            raise CaptureError(f"cannot open {self.name}")
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.frame_interval_s = 1.0 / fps if 1.0 <= fps <= 120.0 else None
        if not self.paced:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
            capture.set(cv2.CAP_PROP_FPS, self.config.fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2: keep the driver's queue short as well
        self._capture = capture

    def read(self) -> np.ndarray | None:
        import cv2

        capture = self._capture
        if not isinstance(capture, cv2.VideoCapture):
            raise CaptureError("not open")
        started = time.monotonic()
        ok, frame = capture.read()
        if ok:
            self._last_frame = time.monotonic()
            if self.live:  # FFmpeg gives no timestamp as a huge negative number (MJPEG over HTTP has none)
                has_pts = capture.get(cv2.CAP_PROP_PTS) >= 0
                self.pts_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if has_pts else None
            return frame
        if self.paced:
            return None  # end of the file
        if self.live and time.monotonic() - max(started, self._last_frame) < self.config.stall_s / 2:
            raise CaptureError(f"the stream from {self.name} ended (the camera closed it); reconnecting")
        if self.live:
            stalled = f"no frame from {self.name} for {self.config.stall_s:g} s (stalled or gone)"
            raise CaptureError(f"{stalled}; reconnecting")
        raise CaptureError(f"{self.name} stopped delivering frames")

    def close(self) -> None:
        import cv2

        if isinstance(self._capture, cv2.VideoCapture):
            self._capture.release()
        self._capture = None


class FolderSource(FrameSource):
    """The images of a folder in name order, one per read; unreadable files are skipped and logged."""

    paced = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CaptureError(f"{self.folder} is not a folder")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CaptureError(f"no images in {self.folder}")
        self._next = 0

    def read(self) -> np.ndarray | None:
        import cv2

        while self._next < len(self._files):
            path = self._files[self._next]
            self._next += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
            log.warning("unreadable image skipped", extra={"path": str(path)})
        return None

    def close(self) -> None:
        self._files = []


class SceneSource(FrameSource):
    """Frames rendered from a PhoneScene at the configured size (the `sim:` source)."""

    paced = True

    def __init__(self, scene: PhoneScene, config: CameraConfig) -> None:
        self.scene, self.config = scene, config

    def open(self) -> None:
        """Nothing to open: the scene is in process."""

    def read(self) -> np.ndarray | None:
        return self.scene.render(self.config.width, self.config.height)

    def close(self) -> None:
        """Nothing to release."""


def open_source(config: CameraConfig, scene: PhoneScene | None = None) -> FrameSource:
    """The FrameSource for `config.source` (constructed only: no I/O until `open`)."""
    source = config.source.strip()
    if source.startswith("sim:"):
        if scene is None:
            raise ValueError("source sim: needs a PhoneScene: Camera(config, scene=PhoneScene())")
        return SceneSource(scene, config)
    if source.isdigit() or source.startswith("/dev/"):
        import cv2

        return OpenCvSource(int(source) if source.isdigit() else source, config, cv2.CAP_V4L2)
    if source.lower().startswith(STREAM_SCHEMES):
        import cv2

        params = (  # so that a hung stream raises instead of blocking; opening waits for a key frame
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(config.connect_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(config.stall_s * 1000),
            cv2.CAP_PROP_N_THREADS,
            config.decoder_threads,
        )
        return OpenCvSource(source, config, cv2.CAP_FFMPEG, params)
    if Path(source).is_dir():
        return FolderSource(Path(source))
    return OpenCvSource(source, config)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    seq: int  # counts frames delivered by the source since the grabber started
    captured: float  # time.monotonic() when captured (StreamClock), else when read
    at: datetime  # the same instant on the wall clock (UTC)


class StreamClock:
    """A stream's timestamps on the box's monotonic clock, from what arrives when.

    The camera's clock has its own origin, so it is anchored at the frame that arrived soonest
    after its timestamp (the least delayed one: read time minus timestamp is smallest for it). A
    frame that arrives late (queued in FFmpeg, a burst after a network hiccup) then gets the time it
    was taken, not the time it was read. The anchor may creep later by `DRIFT` s a second (the two
    clocks drift apart), and starts over when the stream's clock jumps (a camera restarted).
    """

    DRIFT = 0.001
    JUMP_S = 5.0

    def __init__(self) -> None:
        self._offset: float | None = None
        self._last_read = 0.0

    def captured(self, read_at: float, pts_s: float | None) -> float:
        """The monotonic time the frame read at `read_at` (with stream timestamp `pts_s`) was taken."""
        if pts_s is None:
            return read_at
        offset = read_at - pts_s
        if self._offset is None or abs(offset - self._offset) > self.JUMP_S:
            self._offset = offset
        else:
            self._offset = min(self._offset + (read_at - self._last_read) * self.DRIFT, offset)
        self._last_read = read_at
        return min(self._offset + pts_s, read_at)


class FrameGrabber:
    """Reads a FrameSource in its own thread and keeps only the newest frame (see the module doc)."""

    def __init__(self, config: CameraConfig, source: FrameSource, on_health: Callable[[DeviceHealth], None]) -> None:
        self.config, self.source, self._on_health = config, source, on_health
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self.dropped = 0
        self.stale = 0  # skipped as a new stream's backlog
        self._state: HealthState | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"grab:{self.config.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def frames(self) -> int:
        return self._seq

    def latest(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to `timeout` s for one; None if none came."""
        with self._cond:
            if self._latest is None:
                self._cond.wait(timeout)
            frame, self._latest = self._latest, None
            return frame

    def _put(self, image: np.ndarray, captured: float) -> None:
        at = datetime.now(UTC) - timedelta(seconds=max(0.0, time.monotonic() - captured))
        with self._cond:
            self._seq += 1
            if self._latest is not None:
                self.dropped += 1
            self._latest = Frame(image=image, seq=self._seq, captured=captured, at=at)
            self._cond.notify()

    def _health(self, state: HealthState, detail: str = "") -> None:
        if state is not self._state:
            self._state = state
            log.info("camera health", extra={"camera": self.config.name, "state": state.value, "detail": detail})
            self._on_health(DeviceHealth(kind=DeviceKind.CAMERA, name=self.config.name, state=state, detail=detail))

    def _run(self) -> None:
        backoff = Backoff(self.config.reconnect_first_s, self.config.reconnect_cap_s)
        while not self._stop.is_set():
            delay = None
            try:
                self._session(backoff)
            except LoginRefused as exc:
                self._health(HealthState.DISCONNECTED, f"{exc}; asking again in {self.config.login_retry_s:g} s")
                delay = self.config.login_retry_s
            except CaptureError as exc:
                self._health(HealthState.DISCONNECTED, str(exc))
            except Exception as exc:  # the top of a long-running loop: log, report, retry
                log.exception("camera capture failed", extra={"camera": self.config.name})
                self._health(HealthState.DISCONNECTED, f"unexpected error: {type(exc).__name__}")
            finally:
                self.source.close()
            self._stop.wait(backoff.next_delay() if delay is None else delay)

    def _session(self, backoff: Backoff) -> None:
        """Open the source and read it until it fails, ends (and does not loop) or we are stopped."""
        self.source.open()
        opened = time.monotonic()
        period = 1.0 / self.config.fps
        interval = self.source.frame_interval_s or period
        clock = StreamClock()
        catching_up = self.source.live
        next_due = time.monotonic()
        delivered = 0
        seen = False  # a frame came since opening: until then a stream may be waiting for its key frame
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                image = self.source.read()
            except CaptureError:
                if seen or not self.source.live or time.monotonic() - opened >= self.config.connect_s:
                    raise
                self._stop.wait(0.05)
                continue
            read_at = time.monotonic()
            if image is None:
                if not delivered:
                    raise CaptureError("the source has no readable frame")
                delivered = 0
                if not self.config.loop_files:
                    self._health(HealthState.DISCONNECTED, "end of the recording")
                    self._stop.wait()
                    return
                self.source.close()
                self.source.open()
                continue
            if seen and read_at - started > self.config.stall_s:
                raise CaptureError(f"no frame for {self.config.stall_s:g} s (stalled or gone); reconnecting")
            seen = True
            captured = clock.captured(read_at, self.source.pts_s)
            if catching_up:  # frames that come faster than the stream's rate were queued while connecting
                catching_up = read_at - started < interval / 2 and read_at - opened < CATCH_UP_S
                if catching_up:
                    self.stale += 1
                    continue
            delivered += 1
            self._put(image, captured)
            self._health(HealthState.OK)
            backoff.reset()
            if self.source.paced:
                next_due = max(next_due + period, time.monotonic() - period)
                self._stop.wait(max(0.0, next_due - time.monotonic()))
