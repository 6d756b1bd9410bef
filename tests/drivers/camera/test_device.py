from __future__ import annotations

import pytest

from contract.messages import CodeColour
from drivers.base import DeviceHealth, DeviceKind, HealthState
from drivers.camera.capture import CameraConfig
from drivers.camera.device import Camera
from drivers.camera.scene import PhoneScene
from tests.drivers.camera.helpers import running_camera

URL = "https://hc.example.gov.cn/c/q8ZyW3nVt5"


@pytest.mark.parametrize("colour", [CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED])
def test_a_code_shown_is_reported_once_with_its_colour(colour: CodeColour) -> None:
    scene = PhoneScene(seed=2)
    with running_camera(scene, debounce_s=4) as cam:
        scene.show(URL, colour)
        scan = cam.next_scan()
        assert (scan.text, scan.colour, scan.camera) == (URL, colour, "camera0")
        assert (scan.frame_width, scan.frame_height) == (640, 480)
        assert cam.scans_over(20) == []  # seen in 20 more frames, not reported again
        stats = cam.camera.stats()
    assert stats.codes_reported == 1
    assert stats.frames_decoded > 5


def test_the_same_code_shown_again_after_the_window_is_reported_again() -> None:
    scene = PhoneScene(seed=3)
    with running_camera(scene, debounce_s=0.3) as cam:
        scene.show(URL, CodeColour.GREEN)
        first = cam.next_scan()
        scene.clear()
        assert cam.scans_within(0.6) == []  # out of sight for longer than the window (wall time: what it is about)
        scene.show(URL, CodeColour.GREEN)
        second = cam.next_scan()
    assert second.at > first.at


def test_reports_its_health_as_a_camera() -> None:
    scene = PhoneScene()
    with running_camera(scene) as cam:
        event = cam.events.get(timeout=5)
    assert event == DeviceHealth(kind=DeviceKind.CAMERA, name="camera0", state=HealthState.OK)


def test_sim_source_without_a_scene_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="PhoneScene"):
        Camera(CameraConfig(source="sim:"))
