"""The obligation lifecycle and what a verdict opens and closes, as vector tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from central.obligation_state import (
    Alert,
    Audit,
    Event,
    Evidence,
    HandOff,
    History,
    Obligation,
    Place,
    Proof,
    State,
    Tick,
    Waive,
    arrives,
    prescribe,
    step,
)
from contract.messages import CheckpointKind, FollowUp

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=24)
COUNTY, TOWN, COMMUNITY, OTHER = "330102", "330102001", "330102001001", "330105"
TEST = Obligation(FollowUp.TEST_ON_ARRIVAL, COUNTY, COUNTY, DUE)
TRANSFER = Obligation(FollowUp.ISOLATION_TRANSFER, COUNTY, COUNTY, T0 + timedelta(hours=4))
REGISTER = Obligation(FollowUp.REGISTER_DESTINATION, COMMUNITY, COMMUNITY, DUE)
NOTIFY = Obligation(FollowUp.NOTIFY_COMMAND, COUNTY, COUNTY, T0 + timedelta(hours=1))


def _in(state: State, ob: Obligation = TEST) -> Obligation:
    return Obligation(ob.kind, ob.node, ob.destination, ob.deadline, state)


def _kinds(actions: tuple[object, ...]) -> list[str]:
    return [a.action if isinstance(a, History | Audit) else type(a).__name__ for a in actions]


LIFECYCLE: list[tuple[str, Obligation, Event, State, list[str], str]] = [
    # (what, before, event, state after, actions, refused says)
    ("before its deadline nothing happens", TEST, Tick(DUE - timedelta(seconds=1)), State.OPEN, [], ""),
    ("at its deadline it goes overdue and alerts", TEST, Tick(DUE), State.OVERDUE, ["overdue", "Alert"], ""),
    ("after its deadline too", TEST, Tick(DUE + timedelta(days=3)), State.OVERDUE, ["overdue", "Alert"], ""),
    ("overdue alerts once", _in(State.OVERDUE), Tick(DUE + timedelta(hours=1)), State.OVERDUE, [], ""),
    ("a test result closes 落地检", TEST, Evidence(Proof.TEST_RESULT, "r1", T0), State.DONE, ["done"], ""),
    ("late evidence closes an overdue one", _in(State.OVERDUE), Evidence(Proof.TEST_RESULT, "r1", DUE),
     State.DONE, ["done"], ""),
    ("an arrival does not close 落地检", TEST, Evidence(Proof.ARRIVAL, "v2", T0), State.OPEN, [],
     "arrival does not close test_on_arrival"),
    ("an arrival closes a transfer", TRANSFER, Evidence(Proof.ARRIVAL, "v2", T0), State.DONE, ["done"], ""),
    ("an arrival closes 报备", REGISTER, Evidence(Proof.ARRIVAL, "v2", T0), State.DONE, ["done"], ""),
    ("a test result does not close a transfer", TRANSFER, Evidence(Proof.TEST_RESULT, "r1", T0), State.OPEN, [],
     "test_result does not close isolation_transfer"),
    ("staff confirm with a note, audited", TRANSFER, Evidence(Proof.STAFF, "li", T0, "送达隔离酒店", "li"),
     State.DONE, ["done", "obligation_done"], ""),
    ("staff confirm without a note", TRANSFER, Evidence(Proof.STAFF, "li", T0, "  ", "li"), State.OPEN, [],
     "a confirmation says what was done (a note)"),
    ("staff close what no evidence can", NOTIFY, Evidence(Proof.STAFF, "li", T0, "已电话报告", "li"), State.DONE,
     ["done", "obligation_done"], ""),
    ("an arrival cannot close a notice", NOTIFY, Evidence(Proof.ARRIVAL, "v2", T0), State.OPEN, [],
     "arrival does not close notify_command"),
    ("a waiver with a reason, audited", TEST, Waive("已离开本县", "chief", T0), State.WAIVED,
     ["waived", "obligation_waive"], ""),
    ("an overdue one can be waived", _in(State.OVERDUE), Waive("已离开本县", "chief", T0), State.WAIVED,
     ["waived", "obligation_waive"], ""),
    ("a waiver without a reason", TEST, Waive(" ", "chief", T0), State.OPEN, [], "a waiver gives its reason"),
    ("hand-off keeps the state, audited", TEST, HandOff(OTHER, "li", T0), State.OPEN, ["handoff", "handoff"], ""),
    ("an overdue one is handed off overdue", _in(State.OVERDUE), HandOff(OTHER, "li", T0), State.OVERDUE,
     ["handoff", "handoff"], ""),
    ("hand-off to the office that owes it", TEST, HandOff(COUNTY, "li", T0), State.OPEN, [],
     "the obligation is already owed by that office"),
    ("done is final: evidence again", _in(State.DONE), Evidence(Proof.TEST_RESULT, "r1", T0), State.DONE, [],
     "the obligation is already done"),
    ("done is final: the deadline", _in(State.DONE), Tick(DUE), State.DONE, [], "the obligation is already done"),
    ("done is final: a waiver", _in(State.DONE), Waive("x", "chief", T0), State.DONE, [],
     "the obligation is already done"),
    ("waived is final: a hand-off", _in(State.WAIVED), HandOff(OTHER, "li", T0), State.WAIVED, [],
     "the obligation is already waived"),
    ("waived is final: evidence", _in(State.WAIVED), Evidence(Proof.TEST_RESULT, "r1", T0), State.WAIVED, [],
     "the obligation is already waived"),
]


@pytest.mark.parametrize(("before", "event", "after", "actions", "refused"), [row[1:] for row in LIFECYCLE],
                         ids=[row[0] for row in LIFECYCLE])
def test_lifecycle(before: Obligation, event: Event, after: State, actions: list[str], refused: str) -> None:
    result = step(before, event)
    assert result.obligation.state is after
    assert _kinds(result.actions) == actions
    assert result.refused.split(" / ")[-1] == refused  # Chinese first, then these words
    if refused:
        assert result.obligation == before


def test_late_evidence_is_marked_late_and_linked() -> None:
    done = step(_in(State.OVERDUE), Evidence(Proof.TEST_RESULT, "file:3", DUE, note="阴性"))
    assert done.obligation.late
    history = done.actions[0]
    assert isinstance(history, History)
    assert history.detail == {"kind": "test_on_arrival", "node": COUNTY, "proof": "test_result", "ref": "file:3",
                              "late": True, "note": "阴性"}
    assert not step(TEST, Evidence(Proof.TEST_RESULT, "file:3", T0)).obligation.late


def test_hand_off_moves_who_owes_it_and_where_arrival_counts() -> None:
    moved = step(TRANSFER, HandOff(OTHER, "li", T0, note="去往西湖区")).obligation
    assert (moved.node, moved.destination, moved.deadline) == (OTHER, OTHER, TRANSFER.deadline)
    detail = step(TRANSFER, HandOff(OTHER, "li", T0, note="去往西湖区")).actions[0]
    assert isinstance(detail, History) and detail.detail["from"] == COUNTY and detail.detail["to"] == OTHER


def test_overdue_raises_exactly_one_alert() -> None:
    first = step(TEST, Tick(DUE))
    assert Alert() in first.actions
    assert not step(first.obligation, Tick(DUE + timedelta(hours=5))).actions


DEADLINES = {FollowUp.TEST_ON_ARRIVAL: 24, FollowUp.ISOLATION_TRANSFER: 4, FollowUp.FEVER_CLINIC: 4,
             FollowUp.REGISTER_DESTINATION: 24}
AT_CHECKPOINT = Place(county=COUNTY, chain=frozenset({COUNTY, "3301", "33", "330102100"}), kind=CheckpointKind.TRAFFIC)
GOING_TO = Place(county=COUNTY, chain=AT_CHECKPOINT.chain, kind=CheckpointKind.TRAFFIC, destination=COMMUNITY)

PRESCRIBE: list[tuple[str, list[FollowUp], Place, list[FollowUp], list[tuple[FollowUp, str, float]]]] = [
    ("yellow code, destination unknown: the checkpoint's county tests",
     [FollowUp.STAFF_VERIFY, FollowUp.TEST_ON_ARRIVAL], AT_CHECKPOINT, [],
     [(FollowUp.TEST_ON_ARRIVAL, COUNTY, 24)]),
    ("yellow code, destination known: its office tests",
     [FollowUp.STAFF_VERIFY, FollowUp.TEST_ON_ARRIVAL], GOING_TO, [], [(FollowUp.TEST_ON_ARRIVAL, COMMUNITY, 24)]),
    ("red code: the checkpoint's county transfers, wherever they were going",
     [FollowUp.ISOLATION_TRANSFER, FollowUp.NOTIFY_COMMAND], GOING_TO, [],
     [(FollowUp.ISOLATION_TRANSFER, COUNTY, 4)]),
    ("fever: the county, 4 h", [FollowUp.FEVER_CLINIC, FollowUp.NOTIFY_COMMAND], GOING_TO, [],
     [(FollowUp.FEVER_CLINIC, COUNTY, 4)]),
    ("risk-area origin: test and registration at the destination",
     [FollowUp.TEST_ON_ARRIVAL, FollowUp.REGISTER_DESTINATION], GOING_TO, [],
     [(FollowUp.TEST_ON_ARRIVAL, COMMUNITY, 24), (FollowUp.REGISTER_DESTINATION, COMMUNITY, 24)]),
    ("a follow-up named twice opens once",
     [FollowUp.REGISTER_DESTINATION, FollowUp.REGISTER_DESTINATION], GOING_TO, [],
     [(FollowUp.REGISTER_DESTINATION, COMMUNITY, 24)]),
    ("green: nothing owed", [], GOING_TO, [], []),
    ("turning back and staff checks happen at the gate: nothing owed after",
     [FollowUp.TURN_BACK, FollowUp.STAFF_VERIFY], GOING_TO, [], []),
    ("the arrival it proves is not owed again",
     [FollowUp.ISOLATION_TRANSFER, FollowUp.NOTIFY_COMMAND], GOING_TO, [FollowUp.ISOLATION_TRANSFER], []),
]


@pytest.mark.parametrize(("follow_ups", "place", "closing", "expected"), [row[1:] for row in PRESCRIBE],
                         ids=[row[0] for row in PRESCRIBE])
def test_prescribe(follow_ups: list[FollowUp], place: Place, closing: list[FollowUp],
                   expected: list[tuple[FollowUp, str, float]]) -> None:
    opened = prescribe(follow_ups, T0, DEADLINES, place, closing)
    assert [(o.kind, o.node, (o.deadline - T0).total_seconds() / 3600) for o in opened] == expected
    assert all(o.state is State.OPEN and o.destination == o.node for o in opened)


def test_deadlines_are_the_policys() -> None:
    short = prescribe([FollowUp.TEST_ON_ARRIVAL], T0, {FollowUp.TEST_ON_ARRIVAL: 0.05}, AT_CHECKPOINT)
    assert short[0].deadline == T0 + timedelta(minutes=3)
    assert prescribe([FollowUp.TEST_ON_ARRIVAL], T0, {}, AT_CHECKPOINT) == []


HOTEL = Place(county=COUNTY, chain=frozenset({COUNTY, "3301", "33", TOWN}), kind=CheckpointKind.COMMUNITY)
GATE = Place(county=COUNTY, chain=frozenset({COUNTY, "3301", "33", TOWN, COMMUNITY}), kind=CheckpointKind.COMMUNITY)
ROAD = Place(county=COUNTY, chain=frozenset({COUNTY, "3301", "33"}), kind=CheckpointKind.TRAFFIC)
ELSEWHERE = Place(county=OTHER, chain=frozenset({OTHER, "3301", "33"}), kind=CheckpointKind.COMMUNITY)

ARRIVALS: list[tuple[str, Obligation, Place, bool]] = [
    ("a transfer, at the county's hotel box", TRANSFER, HOTEL, True),
    ("a transfer, at another county's box", TRANSFER, ELSEWHERE, False),
    ("a transfer, at a traffic checkpoint of the county (another road, not an arrival)", TRANSFER, ROAD, False),
    ("报备, at the community's own gate", REGISTER, GATE, True),
    ("报备, at a box of the township above the community", REGISTER, HOTEL, False),
    ("落地检 is proven by a test, not by being there", TEST, HOTEL, False),
    ("a transfer already done", _in(State.DONE, TRANSFER), HOTEL, False),
    ("an overdue transfer, late", _in(State.OVERDUE, TRANSFER), HOTEL, True),
]


@pytest.mark.parametrize(("ob", "place", "expected"), [row[1:] for row in ARRIVALS], ids=[row[0] for row in ARRIVALS])
def test_arrives(ob: Obligation, place: Place, expected: bool) -> None:
    assert arrives(ob, place) is expected
