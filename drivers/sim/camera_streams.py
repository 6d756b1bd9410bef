"""IP cameras for tests and benchmarks, served by servers this project did not write.

Theory of operation: a `FrameFeed` thread plays the camera's sensor: it paces a picture (a phone
showing a code) at the stream's frame rate, stamps each copy with the time it was "captured"
(`stamp`: a strip of black and white blocks along the top edge carrying time.monotonic() in ms,
which survives H.264 and JPEG), and writes it as raw BGR to a server's stdin:

- `RtspCamera`: GStreamer's RTSP server (rtsp_serve.py, run by the system Python), H.264 with a
  chosen key-frame interval and optional Basic authentication;
- `MjpegCamera`: ffmpeg's own HTTP server (`-f mpjpeg -listen 1`), one viewer per process, started
  again whenever its viewer leaves, as a camera's web server would take the next connection.

Both can be killed (SIGKILL) and started again on the same port; `FrameFeed.pause()` stops the
frames while the connection stays up (a stall). `read_stamp` gives back the capture time, so the
age of the frame a decoder sees can be measured across processes (CLOCK_MONOTONIC is system-wide).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import numpy as np

from contract.messages import CodeColour
from drivers.camera import render

STAMP_BITS = 40  # 32 bits of milliseconds, 8 bits of check sum
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("rtsp_serve.py")


PAYLOAD = "https://hc.example.gov.cn/c/Tk7dQ2mWz9XbR4pL"  # a synthetic online code


def phone_picture(
    payload: str = PAYLOAD, colour: CodeColour = CodeColour.GREEN, size: tuple[int, int] = (640, 480), seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """What the camera sees: a phone showing a health code `payload` in `colour`, held up fairly
    square; and the code's true corners in the picture."""
    rng = np.random.default_rng(seed)
    page, code = render.health_page(payload, colour)
    return render.photograph(render.backdrop(size, rng), page, code, render.phone_quad(size, rng, 0.9, 0.04, 8.0))


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def _bits(ms: int) -> list[int]:
    value = (ms << 8) | (sum(ms.to_bytes(4, "big")) & 0xFF)
    return [(value >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]


def stamp(image: np.ndarray, ms: int) -> None:
    """Draw `ms` into the top edge of `image` (in place): one square block per bit."""
    block = image.shape[1] // STAMP_BITS
    for i, bit in enumerate(_bits(ms)):
        image[:block, i * block : (i + 1) * block] = 255 if bit else 0


def read_stamp(image: np.ndarray) -> int | None:
    """The milliseconds drawn by `stamp`, or None when the strip does not check out."""
    block = image.shape[1] // STAMP_BITS
    if block < 4 or image.shape[0] < block:
        return None
    inner = image[block // 4 : block - block // 4]
    value = 0
    for i in range(STAMP_BITS):
        cell = inner[:, i * block + block // 4 : (i + 1) * block - block // 4]
        value = (value << 1) | int(cell.mean() > 127)
    ms, check = value >> 8, value & 0xFF
    return ms if sum(ms.to_bytes(4, "big")) & 0xFF == check else None


def age_ms(image: np.ndarray) -> int | None:
    """How long ago the frame was captured, from its stamp; None without a readable stamp."""
    captured = read_stamp(image)
    return None if captured is None else (now_ms() - captured) & 0xFFFFFFFF


class FrameFeed:
    """The camera's sensor: `picture` stamped and written to `sink` at `fps` until stopped."""

    def __init__(self, picture: np.ndarray, fps: float) -> None:
        self.picture, self.fps = picture, fps
        self.height, self.width = picture.shape[:2]
        self._sink: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-feed", daemon=True)
        self.frames = 0

    def start(self) -> FrameFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=5)

    def pause(self) -> None:
        """No more frames (the connection stays up): a stall."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def attach(self, sink: IO[bytes] | None) -> None:
        with self._lock:
            self._sink = sink

    def _run(self) -> None:
        period = 1.0 / self.fps
        due = time.monotonic()
        while not self._stop.is_set():
            self._running.wait()
            due = max(due + period, time.monotonic() - period)
            self._stop.wait(max(0.0, due - time.monotonic()))
            frame = self.picture.copy()
            stamp(frame, now_ms())
            with self._lock:
                sink = self._sink
            if sink is None:
                continue
            try:
                sink.write(frame.tobytes())
                sink.flush()
                self.frames += 1
            except (BrokenPipeError, ValueError, OSError):  # the server died: wait for the next one
                with self._lock:
                    if self._sink is sink:
                        self._sink = None


def _reap(proc: subprocess.Popen[bytes]) -> None:
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # a frame half written to the dead process
                pipe.close()


class _Served:
    """A server process on a port, which a test may kill and start again."""

    def __init__(self, feed: FrameFeed, port: int) -> None:
        self.feed, self.port = feed, port
        self.proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL, as a power cut or a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self.feed.attach(None)
            proc.kill()
            _reap(proc)

    def freeze(self) -> None:
        """SIGSTOP: the server holds its connections but sends nothing."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)


class RtspCamera(_Served):
    """rtsp://127.0.0.1:PORT/cam from GStreamer's RTSP server (see rtsp_serve.py)."""

    def __init__(self, feed: FrameFeed, port: int, keyint: int = 15, credentials: str = "") -> None:
        super().__init__(feed, port)
        self.keyint, self.credentials = keyint, credentials
        self._viewer: subprocess.Popen[bytes] | None = None

    def url(self, credentials: str | None = None) -> str:
        login = self.credentials if credentials is None else credentials
        return f"rtsp://{login + '@' if login else ''}127.0.0.1:{self.port}/cam"

    def start(self, credentials: str | None = None) -> RtspCamera:
        if credentials is not None:
            self.credentials = credentials
        f = self.feed
        args = [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.port), str(f.width), str(f.height), str(round(f.fps))]
        args += [str(self.keyint)] + ([self.credentials] if self.credentials else [])
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.kill()
            raise RuntimeError("the RTSP server did not start: run deploy/dev/setup.sh test (GStreamer's RTSP server)")
        self.proc = proc
        f.attach(proc.stdin)
        return self

    def start_viewer(self) -> None:
        """Another viewer (a recorder, say) that keeps the shared encoder running, so the camera under
        test joins mid-stream and waits for a key frame, as it would at a real checkpoint."""
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        self._viewer = subprocess.Popen(
            [ffmpeg, "-nostdin", "-loglevel", "quiet", "-rtsp_transport", "tcp", "-i", self.url(), "-f", "null", "-"],
            stdin=subprocess.DEVNULL,
        )
        assert self.proc is not None and self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"streaming":
            raise RuntimeError("the RTSP server did not start streaming to its first viewer")

    def kill(self) -> None:
        if self._viewer is not None:
            self._viewer.kill()
            _reap(self._viewer)
            self._viewer = None
        super().kill()


class MjpegCamera(_Served):
    """http://127.0.0.1:PORT/cam.mjpg from ffmpeg's HTTP server, restarted for each viewer."""

    def __init__(self, feed: FrameFeed, port: int) -> None:
        super().__init__(feed, port)
        self._serving = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cam.mjpg"

    def start(self) -> MjpegCamera:
        self._serving.set()
        self._thread = threading.Thread(target=self._respawn, name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def kill(self) -> None:
        self._serving.clear()
        with self._lock:
            super().kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _respawn(self) -> None:
        f = self.feed
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        args = [ffmpeg, "-hide_banner", "-loglevel", "quiet"]
        args += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{f.width}x{f.height}", "-r", str(f.fps), "-i", "-"]
        args += ["-f", "mpjpeg", "-q:v", "5", "-listen", "1", self.url()]
        while self._serving.is_set():
            with self._lock:
                if not self._serving.is_set():
                    return
                self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
                f.attach(self.proc.stdin)
            proc = self.proc
            proc.wait()
            with self._lock:
                if self.proc is proc:  # its viewer left; killed ones are reaped by kill()
                    self.feed.attach(None)
                    _reap(proc)
