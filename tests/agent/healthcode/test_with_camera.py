"""End to end: a signed code on the simulated phone, through the real camera pipeline, verified."""

from __future__ import annotations

from agent.healthcode.chain import HealthCodeSettings, build_chain
from agent.healthcode.keys import public_key_text
from contract.messages import CodeColour, ColourSource
from drivers.camera.scene import PhoneScene
from tests.agent.healthcode.helpers import KEY, NOW, signed
from tests.drivers.camera.helpers import running_camera


def test_a_signed_yellow_code_shown_to_the_camera_is_verified_as_signed() -> None:
    scene = PhoneScene(seed=5)
    payload = signed(col="yellow")
    with running_camera(scene) as cam:
        scene.show(payload, CodeColour.YELLOW)
        scan = cam.next_scan()
    assert scan.text == payload and scan.colour is CodeColour.YELLOW
    status = build_chain(HealthCodeSettings(issuer_keys={"gd-cdc": [public_key_text(KEY)]})).verify(
        scan.text, scan.colour, NOW
    )
    assert (status.colour, status.source, status.trusted) == (CodeColour.YELLOW, ColourSource.SIGNED_PAYLOAD, True)
