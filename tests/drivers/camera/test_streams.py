"""The capture path against camera servers this project did not write: GStreamer's RTSP server
(H.264) and ffmpeg's HTTP MJPEG server, fed stamped frames of a phone (drivers/sim/camera_streams).
Codes are decoded; a server killed and started again, a stall, a long key-frame interval and a wrong
password are each reported in words and recovered from without help."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from checkpoint.broker import free_port
from drivers.base import HealthState
from drivers.camera import render
from drivers.camera.capture import CameraConfig, open_source
from drivers.sim.camera_streams import FrameFeed, MjpegCamera, RtspCamera
from tests.drivers.camera.conftest import URL
from tests.drivers.camera.helpers import running_camera

OK, GONE = HealthState.OK, HealthState.DISCONNECTED
SETTINGS = {"width": 640, "height": 480, "fps": 15, "stall_s": 2.0, "reconnect_first_s": 0.2, "reconnect_cap_s": 1.0}
SETTINGS |= {"debounce_s": 0.1}  # shorter than any outage here, so the code is reported again after one


def test_rtsp_codes_decoded_through_a_server_killed_and_a_stall(
    feed: FrameFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.camera")
    server = RtspCamera(feed, free_port()).start()
    try:
        with running_camera(None, source=server.url(), **SETTINGS) as run:
            assert run.next_scan(20).text == URL
            server.kill()
            assert "rtsp://127.0.0.1" in run.next_health(GONE).detail
            server.start()
            run.next_health(OK, 30)
            assert run.next_scan(20).text == URL
            feed.pause()  # the camera stops sending; the connection stays up
            assert "stalled or gone" in run.next_health(GONE).detail
            feed.resume()
            run.next_health(OK, 30)
            assert run.next_scan(20).text == URL
    finally:
        server.kill()
    logged = [(r.__dict__["state"], r.__dict__["detail"]) for r in caplog.records if r.getMessage() == "camera health"]
    assert [state for state, _ in logged][:5] == ["ok", "disconnected", "ok", "disconnected", "ok"]
    assert "ended (the camera closed it)" in logged[1][1]
    assert "stalled or gone" in logged[3][1]


def test_mjpeg_codes_decoded_through_a_server_killed_and_restarted(feed: FrameFeed) -> None:
    server = MjpegCamera(feed, free_port()).start()
    try:
        with running_camera(None, source=server.url(), **SETTINGS) as run:
            assert run.next_scan(20).text == URL
            server.kill()
            assert "http://127.0.0.1" in run.next_health(GONE).detail
            server.start()
            run.next_health(OK, 30)
            assert run.next_scan(20).text == URL
    finally:
        server.kill()


def test_joining_a_stream_whose_key_frames_are_8_s_apart_waits_for_one(feed: FrameFeed) -> None:
    server = RtspCamera(feed, free_port(), keyint=120).start()
    try:
        server.start_viewer()  # the encoder is already running: the camera joins between key frames
        # wall time on purpose: the encoder in the server's process runs on it. The viewer's first key frame has
        # gone by; the next comes 6.5 s after the camera joins
        time.sleep(1.5)
        with running_camera(None, source=server.url(), **SETTINGS) as run:
            run.next_health(OK, 30)
            assert [e.detail for e in run.seen] == [""]  # OK, not given up and started over first
            assert run.next_scan(20).text == URL
    finally:
        server.kill()


def test_frames_queued_while_connecting_are_not_taken_for_what_is_in_front_of_the_camera(feed: FrameFeed) -> None:
    """The phone is taken away while the camera connects: the frames FFmpeg queued meanwhile still show it,
    but no code may be reported as seen after it was gone."""
    server = RtspCamera(feed, free_port()).start()
    try:
        with running_camera(None, source=server.url(), **SETTINGS) as run:
            run.scans_within(1.0)  # the traveller stands there for a second
            feed.picture = render.backdrop((640, 480), np.random.default_rng(3))
            gone = datetime.now(UTC)
            run.next_health(OK, 30)
            late = [s.at for s in run.scans_within(2.0) if s.at > gone + timedelta(seconds=0.3)]
    finally:
        server.kill()
    assert late == []


def test_a_wrong_password_is_reported_as_such_never_printed_and_retried_slowly(
    feed: FrameFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = RtspCamera(feed, free_port(), credentials="guard:s3cr3t").start()
    try:
        with running_camera(None, source=server.url("guard:s3cr3t-typo"), login_retry_s=1.0, **SETTINGS) as run:
            refused = run.next_health(GONE).detail
            assert "refused the login (401): wrong user name or password" in refused
            assert "asking again in 1 s" in refused
            server.kill()
            server.start(credentials="guard:s3cr3t-typo")  # the camera's account set to what the box has
            run.next_health(OK, 30)
            assert run.next_scan(20).text == URL
    finally:
        server.kill()
    assert "rtsp://guard:***@127.0.0.1" in refused
    assert not [r for r in caplog.records if "s3cr3t" in r.getMessage() + str(r.__dict__)]


def test_ffmpeg_decodes_with_one_thread_unless_told_otherwise(feed: FrameFeed) -> None:
    server = RtspCamera(feed, free_port()).start()
    try:
        for config, threads in (
            (CameraConfig(source=server.url()), 1),
            (CameraConfig(source=server.url(), decoder_threads=2), 2),
        ):
            source = open_source(config)
            source.open()
            try:
                assert source._capture.get(cv2.CAP_PROP_N_THREADS) == threads  # type: ignore[attr-defined]
            finally:
                source.close()
    finally:
        server.kill()
