from __future__ import annotations

import cv2
import numpy as np
import pytest

from contract.messages import CodeColour
from drivers.camera.decode import STEPS, Decoder, Step
from tests.drivers.camera.conftest import URL, phone_frame


@pytest.mark.parametrize("colour", [CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED, CodeColour.GREY])
@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_reads_a_phone_of_every_colour(colour: CodeColour, size: tuple[int, int]) -> None:
    frame, corners = phone_frame(colour=colour, size=size)
    result = Decoder(budget_ms=1000).decode(frame)
    assert [f.text for f in result.found] == [URL]
    found = np.array(result.found[0].corners)
    assert np.abs(np.sort(found, axis=0) - np.sort(corners, axis=0)).max() < 6  # located where it is


def test_nothing_in_an_empty_frame_and_every_step_tried(empty_frame: np.ndarray) -> None:
    result = Decoder(budget_ms=1000).decode(empty_frame)
    assert result.found == ()
    assert result.steps == tuple(step.name for step in STEPS)


def test_accepts_grey_images() -> None:
    frame, _ = phone_frame()
    result = Decoder().decode(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert [f.text for f in result.found] == [URL]


def test_a_faint_yellow_code_is_read_on_the_smallest_channel_where_luma_fails() -> None:
    frame, _ = phone_frame(colour=CodeColour.YELLOW)
    faint = cv2.convertScaleAbs(frame, alpha=0.3, beta=170)  # washed out: little luma contrast left
    result = Decoder(budget_ms=1000).decode(faint)
    assert [(f.text, f.decoder) for f in result.found] == [(URL, "zxing-min")]
    assert result.steps == ("zxing", "zxing-min")


def test_stops_at_the_first_step_that_reads() -> None:
    frame, _ = phone_frame()
    assert Decoder().decode(frame).steps == ("zxing",)


def test_the_budget_leaves_out_steps_it_cannot_afford(empty_frame: np.ndarray) -> None:
    slow = Step("slow", lambda planes: [])
    decoder = Decoder(budget_ms=5, steps=(STEPS[0], slow))
    decoder._costs["slow"].record((480, 640), 50.0)  # as if measured on earlier frames
    result = decoder.decode(empty_frame)
    assert result.steps == ("zxing",)
    assert result.skipped == ("slow",)


def test_the_first_step_always_runs(empty_frame: np.ndarray) -> None:
    assert Decoder(budget_ms=0.001).decode(empty_frame).steps[0] == "zxing"
