"""central.rollout: which boxes, in which waves, and what a running rollout does next, vector by vector."""

from __future__ import annotations

import pytest

from central.rollout import Box, BoxState, Decision, RolloutState, advance, choose, plan

P, S, U, F, A = BoxState.PENDING, BoxState.SENT, BoxState.UPDATED, BoxState.FAILED, BoxState.ACCEPTED
BOXES = [f"box-{i:02d}" for i in range(20)]


def test_a_share_is_stable_and_never_empty() -> None:
    assert choose(BOXES, 100, "x") == BOXES
    half = choose(BOXES, 50, "x")
    assert len(half) == 10 and half == choose(list(reversed(BOXES)), 50, "x") and set(half) <= set(BOXES)
    assert choose(BOXES, 50, "y") != half  # another rollout picks others
    assert len(choose(BOXES, 1, "x")) == 1 and choose([], 50, "x") == []


@pytest.mark.parametrize(("count", "canaries", "size", "waves"), [
    (5, 1, 2, [1, 2, 2]),
    (5, 0, 2, [2, 2, 1]),
    (3, 5, 2, [3]),  # more canaries than boxes: one wave
    (1, 1, 10, [1]),
])
def test_canaries_first_then_waves(count: int, canaries: int, size: int, waves: list[int]) -> None:
    planned = plan(BOXES[:count], canaries, size)
    assert [len(w) for w in planned] == waves
    assert [d for w in planned for d in w] == BOXES[:count]


def box(wave: int, state: BoxState, software: str | None = "1.0", update: dict[str, str] | None = None) -> Box:
    return Box(wave, state, software, update)


FAILED_UPDATE = {"state": "rolled_back", "version": "2.0", "reason": "exited with status 1 before it was healthy"}
VECTORS: list[tuple[str, int, int, dict[str, Box], Decision]] = [
    ("the canary is sent first", 0, 0, {"a": box(0, P), "b": box(1, P)}, Decision(send=["a"])),
    ("waiting for the canary", 0, 0, {"a": box(0, S), "b": box(1, P)}, Decision()),
    ("the canary updated: the next wave goes", 0, 0, {"a": box(0, S, "2.0"), "b": box(1, P), "c": box(1, P)},
     Decision(marks={"a": (U, "")}, send=["b", "c"], wave=1)),
    ("the canary failed: pause", 0, 0, {"a": box(0, S, "1.0", FAILED_UPDATE), "b": box(1, P)},
     Decision(marks={"a": (F, FAILED_UPDATE["reason"])}, state=RolloutState.PAUSED,
              reason="wave 0: 1 of 1 failed (a)")),
    ("a failure under the threshold", 1, 50, {"a": box(0, U, "2.0"), "b": box(1, S, "1.0", FAILED_UPDATE),
                                               "c": box(1, S)},
     Decision(marks={"b": (F, FAILED_UPDATE["reason"])})),
    ("past the threshold", 1, 40, {"b": box(1, F), "c": box(1, S, "1.0", FAILED_UPDATE), "d": box(1, U)},
     Decision(marks={"c": (F, FAILED_UPDATE["reason"])}, state=RolloutState.PAUSED,
              reason="wave 1: 2 of 3 failed (b, c)")),
    ("a failure of another release says nothing", 0, 0,
     {"a": box(0, S, "1.0", {**FAILED_UPDATE, "version": "1.5"})}, Decision()),
    ("accepted failures let the rollout go on", 0, 0, {"a": box(0, A), "b": box(1, P)},
     Decision(send=["b"], wave=1)),
    ("the last wave ended: done", 1, 0, {"a": box(0, U), "b": box(1, S, "2.0")},
     Decision(marks={"b": (U, "")}, state=RolloutState.DONE)),
    ("a box offline when sent is still waited for", 0, 0, {"a": box(0, S, None)}, Decision()),
]


@pytest.mark.parametrize(("case", "wave", "threshold", "boxes", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_advance(case: str, wave: int, threshold: int, boxes: dict[str, Box], expected: Decision) -> None:
    waves = max(b.wave for b in boxes.values()) + 1
    assert advance("2.0", wave, waves, threshold, boxes) == expected
