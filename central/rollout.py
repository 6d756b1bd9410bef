"""A staged rollout of a release, as pure decisions: which boxes, in which waves, and what next.

The boxes are chosen once, when the rollout starts: a site, a list, or every box, and of those a
share (`percent`) picked by a stable hash, so the same rollout always picks the same boxes. The
first wave holds the canaries; the others `wave_size` boxes each. A wave is sent only when the one
before has ended: every box of it updated (its birth names the release) or failed (it reported the
release failed or rolled back). When more than `max_failed_percent` of a wave has failed, the
rollout pauses by itself with the reason; an admin looks, and cancels it or resumes it (the wave's
failures are then accepted, and the rollout goes on with the next wave).

`advance` takes the rollout and what the boxes last reported and answers what to do; the shell
(central.rollouts) reads the database, publishes the update downlinks and writes the answers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class BoxState(StrEnum):
    PENDING = "pending"  # its wave has not come yet
    SENT = "sent"  # the update downlink is on its way or being installed
    UPDATED = "updated"
    FAILED = "failed"
    ACCEPTED = "accepted"  # failed, and an admin resumed the rollout past it


ACTIONS = {"pause": RolloutState.PAUSED, "resume": RolloutState.RUNNING, "cancel": RolloutState.CANCELLED}
"""What an admin may do to a rollout, and the state it leads to."""
FAILED_STATES = {"failed", "rolled_back"}  # agent.update.Progress values that end an update badly


def choose(devices: Sequence[str], percent: int, salt: str) -> list[str]:
    """`percent` of `devices` (at least one when any), the same ones for the same `salt`, in order."""
    if not devices:
        return []
    count = max(1, math.ceil(len(devices) * percent / 100))
    ranked = sorted(devices, key=lambda d: hashlib.sha256(f"{salt}:{d}".encode()).hexdigest())
    return sorted(ranked[:count])


def plan(devices: Sequence[str], canaries: int, wave_size: int) -> list[list[str]]:
    """The waves: the canaries first (if any), then `wave_size` boxes at a time."""
    waves = [list(devices[:canaries])] if canaries > 0 else []
    rest = list(devices[canaries:])
    waves += [rest[i:i + wave_size] for i in range(0, len(rest), wave_size)]
    return [w for w in waves if w]


@dataclass(frozen=True)
class Box:
    """A box of the rollout: its state in it, and its newest birth (software, and the update report)."""

    wave: int
    state: BoxState
    software: str | None = None
    update: Mapping[str, Any] | None = None  # {"state", "version", "reason"}


@dataclass(frozen=True)
class Decision:
    marks: dict[str, tuple[BoxState, str]] = field(default_factory=dict)  # device -> (new state, reason)
    send: list[str] = field(default_factory=list)  # devices to send the update downlink to now
    wave: int | None = None  # the wave now under way, when it moved on
    state: RolloutState | None = None  # the rollout's new state, when it changed
    reason: str = ""


def judge(box: Box, version: str) -> tuple[BoxState, str] | None:
    """What a sent box's newest birth says of this release: updated, failed (why), or nothing yet."""
    if box.software == version:
        return BoxState.UPDATED, ""
    update = box.update or {}
    if update.get("version") == version and update.get("state") in FAILED_STATES:
        return BoxState.FAILED, str(update.get("reason") or update.get("state"))
    return None


def advance(version: str, wave: int, waves: int, max_failed_percent: int, boxes: Mapping[str, Box]) -> Decision:
    """What a running rollout does now, given each of its boxes."""
    marks: dict[str, tuple[BoxState, str]] = {}
    now: dict[str, BoxState] = {}
    for device, box in boxes.items():
        now[device] = box.state
        if box.state is BoxState.SENT and (judged := judge(box, version)) is not None:
            marks[device] = judged
            now[device] = judged[0]
    current = sorted(d for d, b in boxes.items() if b.wave == wave)
    failed = [d for d in current if now[d] is BoxState.FAILED]
    if failed and len(failed) * 100 > max_failed_percent * len(current):
        reason = f"wave {wave}: {len(failed)} of {len(current)} failed ({', '.join(failed[:5])})"
        return Decision(marks, state=RolloutState.PAUSED, reason=reason)
    pending = [d for d in current if now[d] is BoxState.PENDING]
    if pending:
        return Decision(marks, send=pending)
    if any(now[d] is BoxState.SENT for d in current):
        return Decision(marks)
    if wave + 1 >= waves:
        return Decision(marks, state=RolloutState.DONE)
    following = sorted(d for d, b in boxes.items() if b.wave == wave + 1)
    return Decision(marks, send=following, wave=wave + 1)
