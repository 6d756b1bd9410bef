from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from contract.messages import CodeColour
from drivers.base import DeviceHealth, HealthState
from drivers.camera.capture import (
    CameraConfig,
    CaptureError,
    FolderSource,
    FrameGrabber,
    FrameSource,
    OpenCvSource,
    SceneSource,
    StreamClock,
    open_source,
)
from drivers.camera.login import redact
from drivers.camera.scene import PhoneScene
from tests.mqtt import wait_until


def _config(**kw: object) -> CameraConfig:
    return CameraConfig.model_validate({"fps": 50, "reconnect_first_s": 0.05, "reconnect_cap_s": 0.1, **kw})


def test_config_defaults_and_limits() -> None:
    config = CameraConfig()
    assert (config.width, config.height, config.debounce_s) == (1280, 720, 4.0)
    with pytest.raises(ValidationError):
        CameraConfig(fps=0)
    with pytest.raises(ValidationError):
        CameraConfig(colour="red")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("source", "kind", "target"),
    [
        ("0", OpenCvSource, 0),
        ("/dev/video2", OpenCvSource, "/dev/video2"),
        ("rtsp://10.0.0.5/stream1", OpenCvSource, "rtsp://10.0.0.5/stream1"),
        ("clip.mp4", OpenCvSource, "clip.mp4"),
    ],
)
def test_sources_by_name(source: str, kind: type, target: object) -> None:
    made = open_source(CameraConfig(source=source))
    assert isinstance(made, kind)
    assert made.target == target  # type: ignore[attr-defined]


def test_folder_and_sim_sources(tmp_path: Path) -> None:
    assert isinstance(open_source(CameraConfig(source=str(tmp_path))), FolderSource)
    assert isinstance(open_source(CameraConfig(source="sim:"), PhoneScene()), SceneSource)
    with pytest.raises(ValueError, match="PhoneScene"):
        open_source(CameraConfig(source="sim:"))


def _write_images(folder: Path, count: int) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), i * 10, np.uint8))


def test_folder_source_reads_in_order_and_skips_unreadable_files(tmp_path: Path) -> None:
    _write_images(tmp_path, 3)
    (tmp_path / "001b.jpg").write_bytes(b"not a jpeg")
    source = FolderSource(tmp_path)
    source.open()
    values = []
    while (frame := source.read()) is not None:
        values.append(int(frame[0, 0, 0]))
    assert values == [0, 10, 20]


def test_a_video_file_plays_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    events: list[DeviceHealth] = []
    grabber = FrameGrabber(_config(source=str(path)), open_source(_config(source=str(path))), events.append)
    grabber.start()
    try:
        # more than the file holds: it started over
        wait_until(lambda: grabber.frames >= 7, timeout=10, what="7 frames")
    finally:
        grabber.stop()
    assert [e.state for e in events] == [HealthState.OK]


class _Counting(FrameSource):
    """Frames as fast as asked, each stamped with its number."""

    def __init__(self) -> None:
        self.n = 0

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> np.ndarray:
        self.n += 1
        return np.full((4, 4), self.n % 256, np.uint8)

    def close(self) -> None:
        """Nothing to close."""


def test_a_slow_consumer_gets_the_newest_frame_and_older_ones_are_dropped() -> None:
    grabber = FrameGrabber(_config(source="x"), _Counting(), lambda e: None)
    grabber.start()
    try:
        wait_until(lambda: grabber.frames >= 3, timeout=10, what="frames")  # the consumer is busy; frames keep coming
        frame = grabber.latest(timeout=1)
        assert frame is not None
        assert grabber.dropped >= 1
        assert frame.seq >= grabber.frames - 1  # the newest (one more may have arrived since)
        assert grabber.latest(timeout=0) is None or grabber.frames > frame.seq
    finally:
        grabber.stop()


def test_reconnects_when_the_camera_disappears_and_returns(tmp_path: Path) -> None:
    folder = tmp_path / "cam"
    _write_images(folder, 2)
    events: list[DeviceHealth] = []
    changed = threading.Event()

    def on_health(event: DeviceHealth) -> None:
        events.append(event)
        changed.set()

    config = _config(source=str(folder))
    grabber = FrameGrabber(config, open_source(config), on_health)
    grabber.start()
    try:
        assert changed.wait(10)
        shutil.rmtree(folder)  # unplugged: the next reopen fails
        wait_until(lambda: HealthState.DISCONNECTED in [e.state for e in events], timeout=10, what="DISCONNECTED")
        _write_images(folder, 2)  # plugged back
        wait_until(lambda: events[-1].state is HealthState.OK, timeout=10, what="OK again")
    finally:
        grabber.stop()
    states = [e.state for e in events]
    assert states[:3] == [HealthState.OK, HealthState.DISCONNECTED, HealthState.OK]
    assert "not a folder" in events[1].detail


class _Tries(FrameSource):
    """A real source, its attempts to open counted."""

    def __init__(self, source: FrameSource) -> None:
        self.source, self.opens = source, 0

    def open(self) -> None:
        self.opens += 1
        self.source.open()

    def read(self) -> np.ndarray | None:
        return self.source.read()

    def close(self) -> None:
        self.source.close()


def test_a_device_that_cannot_be_opened_is_reported_and_retried() -> None:
    events: list[DeviceHealth] = []
    config = _config(source="/nonexistent/clip.mp4")
    source = _Tries(open_source(config))
    grabber = FrameGrabber(config, source, events.append)
    grabber.start()
    try:
        wait_until(lambda: source.opens >= 3, timeout=10, what="three attempts to open")
    finally:
        grabber.stop()
    assert [e.state for e in events] == [HealthState.DISCONNECTED]  # reported once, retried quietly


def test_scene_source_renders_at_the_configured_size() -> None:
    scene = PhoneScene()
    scene.show("https://hc.example.gov.cn/c/x", CodeColour.RED)
    source = SceneSource(scene, CameraConfig(source="sim:", width=320, height=240))
    source.open()
    frame = source.read()
    assert frame is not None and frame.shape == (240, 320, 3)


def test_capture_error_is_the_devices_fault() -> None:
    with pytest.raises(CaptureError):
        FolderSource(Path("/nonexistent")).open()


@pytest.mark.parametrize(
    ("reads", "expected"),
    [
        # (read at, stream timestamp) -> capture time: frames held up by a hiccup and read in a burst
        # get the times they were taken, on the clock of the least delayed frame
        (
            [(10.0, 0.0), (10.1, 0.1), (10.2, 0.2), (11.0, 0.3), (11.01, 0.4), (11.02, 0.5), (11.1, 1.1)],
            [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 11.1],
        ),
        # a frame that arrives sooner than any before moves the anchor (never after the read)
        ([(10.0, 0.0), (10.05, 0.1)], [10.0, 10.05]),
        # no stream timestamps (MJPEG over HTTP): the time it was read
        ([(5.0, None), (5.1, None)], [5.0, 5.1]),
        # the stream's clock jumps (the camera restarted): start over from the new frame
        ([(1.0, 100.0), (1.1, 100.1), (1.2, 3.0)], [1.0, 1.1, 1.2]),
    ],
)
def test_stream_clock_maps_timestamps_to_capture_times(
    reads: list[tuple[float, float | None]], expected: list[float]
) -> None:
    clock = StreamClock()
    got = [clock.captured(read_at, pts) for read_at, pts in reads]
    assert got == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (
            "rtsp://admin:Secret1@10.0.0.5:554/Streaming/Channels/101",
            "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101",
        ),
        ("http://cam:p%40ss@cam.local/video.mjpg", "http://cam:***@cam.local/video.mjpg"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_a_camera_password_is_never_shown(source: str, shown: str) -> None:
    assert redact(source) == shown
    if "://" in source:  # the name a stream source gives itself in every message
        assert open_source(CameraConfig(source=source)).name == shown  # type: ignore[attr-defined]
