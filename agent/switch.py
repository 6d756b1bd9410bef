"""The A/B switch between two installed releases, as a pure state machine (events in, actions out).

The supervisor (agent.supervisor) runs the agent of the release `current` links to. When the agent
has installed and checked a new release, it asks for the switch; the machine then stops the old
agent (it drains its outbox), links the new release, starts it and gives it a deadline to prove
itself healthy (birth published, devices answering, a test decode). If it exits first or misses
the deadline, the machine links the old release again and starts it: the box is back where it was,
and the reason is kept for the agent to report.

Before every action the shell persists the state the actions lead to (Persist comes first), so a
power cut at any step leaves a state that says what to do on the next start: a switch that was
stopping the old agent goes on to the trial; a trial or a rollback that was under way ends on the
old release, whatever the link pointed at when the power went. The outbox and the state directory
are outside both releases, so both see the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Phase(StrEnum):
    STEADY = "steady"  # `current` runs
    STOPPING = "stopping"  # the old agent is stopping so that `target` can start
    TRIAL = "trial"  # `target` runs and has until the deadline to be healthy
    ROLLING_BACK = "rolling_back"  # `target` is being stopped; `current` starts again after


class Outcome(StrEnum):
    UPDATED = "updated"
    ROLLED_BACK = "rolled_back"


class Result(BaseModel):
    """How the last switch ended, for the agent's birth message and the devices page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    outcome: Outcome
    reason: str = ""


class SwitchState(BaseModel):
    """What the supervisor keeps on disk (switch.json) across restarts and power cuts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: Phase = Phase.STEADY
    current: str  # the release known to work: what runs in STEADY, what a rollback returns to
    target: str | None = None
    reason: str = ""  # why a rollback is under way
    last: Result | None = None
    failed: dict[str, str] = Field(default_factory=dict)  # versions that were rolled back -> why


# events


@dataclass(frozen=True)
class Started:
    """The supervisor started (first boot, or after a crash or power cut); `linked`: where `current`
    points now."""

    linked: str


@dataclass(frozen=True)
class SwitchRequested:
    version: str


@dataclass(frozen=True)
class AgentExited:
    code: int


@dataclass(frozen=True)
class Healthy:
    version: str


@dataclass(frozen=True)
class DeadlinePassed:
    pass


Event = Started | SwitchRequested | AgentExited | Healthy | DeadlinePassed

# actions


@dataclass(frozen=True)
class Persist:
    state: SwitchState


@dataclass(frozen=True)
class Link:
    version: str


@dataclass(frozen=True)
class StartAgent:
    version: str


@dataclass(frozen=True)
class StopAgent:
    pass


@dataclass(frozen=True)
class ArmDeadline:
    pass


@dataclass(frozen=True)
class Prune:
    keep: tuple[str, ...]  # every other installed release may go


@dataclass(frozen=True)
class Say:
    """One log line: a state change in words."""

    text: str


Action = Persist | Link | StartAgent | StopAgent | ArmDeadline | Prune | Say
MAX_FAILED = 20  # failed versions remembered (the oldest forgotten first)


def step(state: SwitchState, event: Event) -> tuple[SwitchState, list[Action]]:
    """The next state and what to do, in order; Persist always comes first when the state changes."""
    if isinstance(event, Started):
        return _started(state, event.linked)
    if isinstance(event, SwitchRequested):
        if state.phase is not Phase.STEADY or event.version == state.current or event.version in state.failed:
            return state, []
        nxt = state.model_copy(update={"phase": Phase.STOPPING, "target": event.version, "reason": ""})
        return nxt, [Persist(nxt), Say(f"switching from {state.current} to {event.version}: stopping the agent"),
                     StopAgent()]
    if isinstance(event, AgentExited):
        return _exited(state, event.code)
    if isinstance(event, Healthy):
        if state.phase is not Phase.TRIAL or event.version != state.target:
            return state, []
        nxt = SwitchState(current=event.version, last=Result(version=event.version, outcome=Outcome.UPDATED),
                          failed=state.failed)
        return nxt, [Persist(nxt), Say(f"release {event.version} is healthy: updated from {state.current}"),
                     Prune(keep=(event.version, state.current))]
    if state.phase is Phase.TRIAL:  # DeadlinePassed
        nxt = state.model_copy(update={"phase": Phase.ROLLING_BACK, "reason": "not healthy before the deadline"})
        return nxt, [Persist(nxt), Say(f"release {state.target} is not healthy before the deadline: stopping it"),
                     StopAgent()]
    return state, []


def _started(state: SwitchState, linked: str) -> tuple[SwitchState, list[Action]]:
    if state.phase is Phase.STOPPING:  # cut while the old agent stopped: the switch goes on
        return _trial(state)
    if state.phase is Phase.TRIAL:
        return _rolled_back(state.model_copy(update={"reason": "the box restarted during the trial"}))
    if state.phase is Phase.ROLLING_BACK:
        return _rolled_back(state)
    link: list[Action] = [] if linked == state.current else [Link(state.current)]
    return state, [*link, StartAgent(state.current)]


def _exited(state: SwitchState, code: int) -> tuple[SwitchState, list[Action]]:
    if state.phase is Phase.STOPPING:
        return _trial(state)
    if state.phase is Phase.TRIAL:
        return _rolled_back(state.model_copy(update={"reason": f"exited with status {code} before it was healthy"}))
    if state.phase is Phase.ROLLING_BACK:
        return _rolled_back(state)
    return state, [Say(f"the agent of {state.current} exited with status {code}: starting it again"),
                   StartAgent(state.current)]


def _trial(state: SwitchState) -> tuple[SwitchState, list[Action]]:
    assert state.target is not None
    nxt = state.model_copy(update={"phase": Phase.TRIAL})
    return nxt, [Persist(nxt), Link(state.target), Say(f"release {state.target} linked: starting it on trial"),
                 StartAgent(state.target), ArmDeadline()]


def _rolled_back(state: SwitchState) -> tuple[SwitchState, list[Action]]:
    target = state.target or state.current
    failed = {**state.failed, target: state.reason}
    failed = dict(list(failed.items())[-MAX_FAILED:])
    nxt = SwitchState(current=state.current, failed=failed,
                      last=Result(version=target, outcome=Outcome.ROLLED_BACK, reason=state.reason))
    return nxt, [Persist(nxt), Link(state.current),
                 Say(f"release {target} rolled back ({state.reason}): starting {state.current} again"),
                 StartAgent(state.current)]
