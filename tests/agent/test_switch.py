"""agent.switch: the A/B switch, transition by transition, and a power cut after every action.

Each vector is a state, an event, and what the machine must answer: the next state's phase and
release, and the kinds of actions in order. Then a pretend box (the link, the running agent, the
state file) plays a whole switch and is cut off after each action in turn; whatever the cut, the
next start must end on one release that runs, with the link and the state file agreeing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agent.switch import (
    Action,
    AgentExited,
    ArmDeadline,
    DeadlinePassed,
    Event,
    Healthy,
    Link,
    Outcome,
    Persist,
    Phase,
    Prune,
    Say,
    StartAgent,
    Started,
    StopAgent,
    SwitchRequested,
    SwitchState,
    step,
)

STEADY = SwitchState(current="1.0")
STOPPING = SwitchState(phase=Phase.STOPPING, current="1.0", target="2.0")
TRIAL = SwitchState(phase=Phase.TRIAL, current="1.0", target="2.0")
ROLLING = SwitchState(phase=Phase.ROLLING_BACK, current="1.0", target="2.0", reason="not healthy before the deadline")
FAILED = SwitchState(current="1.0", failed={"2.0": "exited with status 1 before it was healthy"})


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, Say)]


VECTORS = [
    # (state, event, next phase, next current, next target, action kinds)
    (STEADY, Started(linked="1.0"), Phase.STEADY, "1.0", None, ["StartAgent"]),
    (STEADY, Started(linked="2.0"), Phase.STEADY, "1.0", None, ["Link", "StartAgent"]),
    (STEADY, SwitchRequested("2.0"), Phase.STOPPING, "1.0", "2.0", ["Persist", "StopAgent"]),
    (STEADY, SwitchRequested("1.0"), Phase.STEADY, "1.0", None, []),  # already running
    (FAILED, SwitchRequested("2.0"), Phase.STEADY, "1.0", None, []),  # rolled back once: not again
    (STEADY, AgentExited(1), Phase.STEADY, "1.0", None, ["StartAgent"]),  # a crash: start it again
    (STEADY, Healthy("1.0"), Phase.STEADY, "1.0", None, []),
    (STEADY, DeadlinePassed(), Phase.STEADY, "1.0", None, []),
    (STOPPING, SwitchRequested("3.0"), Phase.STOPPING, "1.0", "2.0", []),  # one switch at a time
    (STOPPING, AgentExited(0), Phase.TRIAL, "1.0", "2.0", ["Persist", "Link", "StartAgent", "ArmDeadline"]),
    (STOPPING, Started(linked="1.0"), Phase.TRIAL, "1.0", "2.0", ["Persist", "Link", "StartAgent", "ArmDeadline"]),
    (TRIAL, Healthy("2.0"), Phase.STEADY, "2.0", None, ["Persist", "Prune"]),
    (TRIAL, Healthy("1.0"), Phase.TRIAL, "1.0", "2.0", []),  # not the release on trial
    (TRIAL, AgentExited(1), Phase.STEADY, "1.0", None, ["Persist", "Link", "StartAgent"]),
    (TRIAL, DeadlinePassed(), Phase.ROLLING_BACK, "1.0", "2.0", ["Persist", "StopAgent"]),
    (TRIAL, Started(linked="2.0"), Phase.STEADY, "1.0", None, ["Persist", "Link", "StartAgent"]),
    (TRIAL, Started(linked="1.0"), Phase.STEADY, "1.0", None, ["Persist", "Link", "StartAgent"]),
    (ROLLING, AgentExited(-15), Phase.STEADY, "1.0", None, ["Persist", "Link", "StartAgent"]),
    (ROLLING, Healthy("2.0"), Phase.ROLLING_BACK, "1.0", "2.0", []),  # too late
    (ROLLING, Started(linked="2.0"), Phase.STEADY, "1.0", None, ["Persist", "Link", "StartAgent"]),
]


@pytest.mark.parametrize(("state", "event", "phase", "current", "target", "expected"), VECTORS)
def test_each_transition(state: SwitchState, event: Event, phase: Phase, current: str, target: str | None,
                         expected: list[str]) -> None:
    nxt, actions = step(state, event)
    assert (nxt.phase, nxt.current, nxt.target) == (phase, current, target)
    assert kinds(actions) == expected
    if nxt != state:
        assert actions and actions[0] == Persist(nxt)  # the state is on disk before anything is done


def test_a_rollback_says_why_and_what_a_success_prunes() -> None:
    rolled, actions = step(TRIAL, AgentExited(3))
    assert rolled.last is not None and rolled.last.outcome is Outcome.ROLLED_BACK and rolled.last.version == "2.0"
    assert rolled.last.reason == "exited with status 3 before it was healthy" == rolled.failed["2.0"]
    assert Link("1.0") in actions and StartAgent("1.0") in actions
    assert any(isinstance(a, Say) and "rolled back" in a.text for a in actions)
    late, _ = step(ROLLING, AgentExited(0))
    assert late.last is not None and late.last.reason == "not healthy before the deadline"
    updated, actions = step(TRIAL, Healthy("2.0"))
    assert updated.last is not None and updated.last.outcome is Outcome.UPDATED
    assert Prune(keep=("2.0", "1.0")) in actions


@dataclass
class Box:
    """The world the supervisor acts on: the state file, the link, the agent that runs."""

    saved: SwitchState
    linked: str
    running: str | None = None
    deadline: bool = False
    log: list[str] = field(default_factory=list)

    def act(self, actions: list[Action], cut_after: int | None = None) -> bool:
        """Carry out `actions`; False when the power went after action number `cut_after`."""
        for done, action in enumerate(actions):
            if isinstance(action, Persist):
                self.saved = action.state
            elif isinstance(action, Link):
                self.linked = action.version
            elif isinstance(action, StartAgent):
                assert self.linked == action.version  # the agent runs what the link names
                self.running = action.version
            elif isinstance(action, StopAgent):
                self.running = None
            elif isinstance(action, ArmDeadline):
                self.deadline = True
            if cut_after is not None and done == cut_after:
                self.running, self.deadline = None, False  # the power is gone
                return False
        return True


def play(box: Box, state: SwitchState, script: list[Event], cut: int | None) -> SwitchState:
    """Play `script`; the power goes after action number `cut` counted over the whole script."""
    count = 0
    for event in script:
        state, actions = step(state, event)
        if cut is not None and count <= cut < count + len(actions):
            if not box.act(actions, cut - count):
                return box.saved
        else:
            box.act(actions)
        count += len(actions)
    return state


def actions_in(state: SwitchState, script: list[Event]) -> int:
    total = 0
    for event in script:
        state, actions = step(state, event)
        total += len(actions)
    return total


SUCCESS = [Started(linked="1.0"), SwitchRequested("2.0"), AgentExited(0), Healthy("2.0")]
CRASH = [Started(linked="1.0"), SwitchRequested("2.0"), AgentExited(0), AgentExited(1), AgentExited(1)]
HANG = [Started(linked="1.0"), SwitchRequested("2.0"), AgentExited(0), DeadlinePassed(), AgentExited(-15)]


@pytest.mark.parametrize("script", [SUCCESS, CRASH, HANG], ids=["healthy", "crashes", "hangs"])
def test_a_power_cut_after_any_action_ends_on_one_release_that_runs(script: list[Event]) -> None:
    for cut in range(actions_in(STEADY, script)):
        box = Box(saved=STEADY, linked="1.0")
        saved = play(box, STEADY, script, cut)
        state, actions = step(saved, Started(linked=box.linked))  # the next boot, from the file
        box.act(actions)
        if state.phase is Phase.TRIAL:  # the switch went on: the new release proves itself or not
            state, actions = step(state, Healthy("2.0") if script is SUCCESS else AgentExited(1))
            box.act(actions)
        assert state.phase is Phase.STEADY, (cut, state)
        assert box.saved == state and box.linked == state.current == box.running, (cut, box)
        assert state.current in {"1.0", "2.0"}
        if state.current == "1.0" and state.last is not None:  # came back: and says why
            assert state.last.outcome is Outcome.ROLLED_BACK and state.last.reason
    uncut = Box(saved=STEADY, linked="1.0")
    final = play(uncut, STEADY, script, None)
    assert final.current == ("2.0" if script is SUCCESS else "1.0") == uncut.running
