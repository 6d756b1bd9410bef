"""Follow-up obligations (闭环管理) as a state machine: events in, actions out, no I/O, no clock.

An obligation is one follow-up a verdict prescribed (落地检, 点对点转运, 转运发热门诊, 报备), owed by
one office (a node of the region tree) by a deadline:

    open ──evidence──▶ done        (an arrival, a test result, or staff confirmation; linked)
    open ──deadline──▶ overdue ──evidence──▶ done   (late evidence still closes it, marked late)
    open / overdue ──waive (with a reason)──▶ waived
    open / overdue ──hand-off──▶ the same state, owed by another office

Done and waived are final: later evidence, deadlines, waivers and hand-offs change nothing (a
replayed verdict or a test-result file imported twice is a no-op here too). Every change says what
the case's history and, for what staff did, the audit log must record; reaching overdue raises
the alert (live feed, webhooks, worklist).

Which obligations a verdict opens (`prescribe`) and which open ones it closes by arriving
(`arrivals`) are decided here too, from facts the shell resolved: the checkpoint's county, the
office of the declared destination, and the chain of offices the verdict's site lies under.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contract.messages import CheckpointKind, FollowUp


class State(StrEnum):
    OPEN = "open"
    DONE = "done"
    OVERDUE = "overdue"
    WAIVED = "waived"


PENDING = frozenset({State.OPEN, State.OVERDUE})
_DONE_WORDS = {State.DONE: "办结", State.WAIVED: "免除"}
"""What an office still owes: the worklist, hand-offs, evidence all work on these."""


class Proof(StrEnum):
    """The kinds of evidence that close an obligation."""

    ARRIVAL = "arrival"  # a verdict of the same person at a site of the obligation's destination
    TEST_RESULT = "test_result"  # a line of an imported test-result file
    STAFF = "staff"  # an operator of the responsible office confirmed it, with a note


OWED_AT_DESTINATION = frozenset({FollowUp.TEST_ON_ARRIVAL, FollowUp.REGISTER_DESTINATION})
"""Owed by the office of the traveller's destination when it is known; the others (transfers) by
the checkpoint's county, which organises them."""
CLOSED_BY = {
    FollowUp.TEST_ON_ARRIVAL: frozenset({Proof.TEST_RESULT, Proof.STAFF}),
    FollowUp.ISOLATION_TRANSFER: frozenset({Proof.ARRIVAL, Proof.STAFF}),
    FollowUp.FEVER_CLINIC: frozenset({Proof.ARRIVAL, Proof.STAFF}),
    FollowUp.REGISTER_DESTINATION: frozenset({Proof.ARRIVAL, Proof.STAFF}),
}
"""The evidence each follow-up accepts; any other follow-up (a notice, a waiver of its own) closes
by staff confirmation only."""


@dataclass(frozen=True)
class Obligation:
    """What is owed, by whom, until when, and where it stands."""

    kind: FollowUp
    node: str  # the office that owes it (a region code)
    destination: str  # the office whose sites' verdicts prove an arrival
    deadline: datetime
    state: State = State.OPEN
    late: bool = False  # closed after it went overdue


# events


@dataclass(frozen=True)
class Tick:
    """The scheduler looked at the time `at`."""

    at: datetime


@dataclass(frozen=True)
class Evidence:
    proof: Proof
    ref: str  # the verdict id, the test result's line, or the staff member's name
    at: datetime
    note: str = ""
    by: str = "central"


@dataclass(frozen=True)
class Waive:
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class HandOff:
    to: str  # the receiving office
    by: str
    at: datetime
    note: str = ""


Event = Tick | Evidence | Waive | HandOff


# actions


@dataclass(frozen=True)
class History:
    """A line in the case's history (case_events): `action` in a word, `detail` as JSON."""

    action: str
    detail: Mapping[str, object]


@dataclass(frozen=True)
class Audit:
    """An entry in the audit log: staff changed what the office owes."""

    action: str
    detail: str


@dataclass(frozen=True)
class Alert:
    """The obligation went overdue: tell the live feed, the webhooks and the worklist."""


Action = History | Audit | Alert


@dataclass(frozen=True)
class Step:
    obligation: Obligation
    actions: tuple[Action, ...] = ()
    refused: str = ""  # why the event does not apply (the obligation is unchanged)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def step(ob: Obligation, event: Event) -> Step:
    """The obligation after `event`, and what to record."""
    if ob.state not in PENDING:
        return Step(ob, refused=f"跟进事项已{_DONE_WORDS[ob.state]} / the obligation is already {ob.state.value}")
    match event:
        case Tick(at=at):
            if ob.state is State.OVERDUE or at < ob.deadline:
                return Step(ob)
            overdue = replace(ob, state=State.OVERDUE)
            return Step(overdue, (History("overdue", _about(ob, deadline=ob.deadline.isoformat())), Alert()))
        case Evidence():
            if event.proof not in CLOSED_BY.get(ob.kind, {Proof.STAFF}):
                return Step(ob, refused=f"此依据不能办结该事项 / {event.proof.value} does not close {ob.kind.value}")
            if event.proof is Proof.STAFF and not event.note.strip():
                return Step(ob, refused="请填写办理情况 / a confirmation says what was done (a note)")
            late = ob.state is State.OVERDUE
            done = replace(ob, state=State.DONE, late=late)
            detail = _about(ob, proof=event.proof.value, ref=event.ref, late=late, **_note(event.note))
            actions: tuple[Action, ...] = (History("done", detail),)
            if event.proof is Proof.STAFF:
                actions += (Audit("obligation_done", f"{ob.kind.value}: {event.note.strip()}"[:500]),)
            return Step(done, actions)
        case Waive():
            if not event.reason.strip():
                return Step(ob, refused="请填写免除原因 / a waiver gives its reason")
            waived = replace(ob, state=State.WAIVED)
            reason = event.reason.strip()
            return Step(waived, (History("waived", _about(ob, reason=reason)),
                                 Audit("obligation_waive", f"{ob.kind.value}: {reason}"[:500])))
        case HandOff():
            if event.to == ob.node:
                return Step(ob, refused="该事项已由该单位负责 / the obligation is already owed by that office")
            moved = replace(ob, node=event.to, destination=event.to)
            detail = _about(ob, to=event.to, **{"from": ob.node}, **_note(event.note))
            return Step(moved, (History("handoff", detail),
                                Audit("handoff", f"{ob.kind.value}: {ob.node} -> {event.to}")))
    raise TypeError(f"not an obligation event: {event!r}")


def _about(ob: Obligation, **extra: object) -> dict[str, object]:
    return {"kind": ob.kind.value, "node": ob.node, **extra}


def _note(note: str) -> dict[str, str]:
    return {"note": note.strip()} if note.strip() else {}


# what a verdict opens and closes


@dataclass(frozen=True)
class Place:
    """Where a verdict was made and where its traveller is going, as the region tree resolves them."""

    county: str  # the office of the checkpoint's county (or the nearest office above the site)
    chain: frozenset[str]  # the site's office and every office above it
    kind: CheckpointKind
    destination: str | None = None  # the nearest office of the declared destination, if known


def prescribe(
    follow_ups: Iterable[FollowUp], passed_at: datetime, deadlines: Mapping[FollowUp, float], place: Place,
    closing: Iterable[FollowUp] = (),
) -> list[Obligation]:
    """The obligations a verdict opens: one per follow-up with a deadline in the policy (`deadlines`,
    hours), except those this very verdict proves done by arriving (`closing`: a transferred
    traveller seen at the isolation hotel's box is not owed a new transfer)."""
    skip = set(closing)
    opened = []
    for kind in dict.fromkeys(follow_ups):  # once each, in the verdict's order
        if kind not in deadlines or kind in skip:
            continue
        node = place.destination if kind in OWED_AT_DESTINATION and place.destination else place.county
        opened.append(Obligation(kind, node, node, passed_at + timedelta(hours=deadlines[kind])))
    return opened


def arrives(ob: Obligation, place: Place) -> bool:
    """A verdict at `place` proves the traveller arrived where `ob` sends them: a community-kind
    site (a hotel's, a clinic's or a community's own box, never a traffic checkpoint) under the
    obligation's destination office."""
    return (
        ob.state in PENDING
        and Proof.ARRIVAL in CLOSED_BY.get(ob.kind, frozenset())
        and place.kind is CheckpointKind.COMMUNITY
        and ob.destination in place.chain
    )
