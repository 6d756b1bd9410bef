"""Follow-up obligations in the database: opened with the verdict, once, by the office that owes them;
closed by an arrival or by staff; overdue once; waived; handed off; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.auth import Role, User
from central.obligation_state import Evidence, Proof, Waive
from central.obligations import Refused, act, hand_off, mark_overdue, worklist
from central.regions import WHOLE, scope_of
from central.schema import alerts, audit_log, cases
from central.store import Store
from tests.central.conftest import db_url
from tests.central.obligation_helpers import (
    COMMUNITY,
    COUNTY,
    DEADLINES,
    OTHER_COUNTY,
    POLICY,
    TOWN,
    batch,
    history,
    owed,
    plant,
    traveller,
)

STAFF = User(id=1, username="li", role=Role.OPERATOR)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(db_url(request, tmp_path, request.param), alert_urls=POLICY.alert_urls, deadlines=DEADLINES)
    s.migrate()
    plant(s)
    yield s
    s.dispose()


def test_each_follow_up_is_owed_by_the_office_responsible(store: Store) -> None:
    red = traveller(1, 1, "red", destination=COMMUNITY)
    store.write_batch(batch(
        red,  # transfers: the checkpoint's county, wherever they go
        traveller(2, 2, "yellow", destination=COMMUNITY),  # 落地检: the destination's office
        traveller(3, 3, "yellow"),  # destination unknown: the checkpoint's county
        traveller(4, 4, "outsider", destination="420102001999"),  # a community not in the tree: its township
        traveller(5, 5, "green", destination=COMMUNITY),  # nothing owed
    ))
    rows = sorted(owed(store), key=lambda r: r["verdict_id"] == str(red.id), reverse=True)
    assert sorted((r["kind"], r["node"], r["state"]) for r in rows) == [
        ("isolation_transfer", COUNTY, "open"),
        ("register_destination", TOWN, "open"),
        ("test_on_arrival", COUNTY, "open"),
        ("test_on_arrival", COMMUNITY, "open"),
    ]
    hours = sorted((r["deadline"] - r["opened_at"]) / timedelta(hours=1) for r in rows)
    assert hours == [4, 24, 24, 24]
    assert history(store, rows[0]["case_id"]) == ["opened", "owed"]
    with store.engine.connect() as conn:  # the outsider's case opened for the registration, without an alert
        assert conn.scalar(select(func.count()).select_from(cases)) == 4
        assert conn.scalar(select(func.count()).select_from(alerts)) == 3


def test_a_verdict_replayed_or_a_second_checkpoint_owes_nothing_twice(store: Store) -> None:
    first = batch(traveller(1, 1, "yellow", destination=COMMUNITY))
    store.write_batch(first)
    store.write_batch(first)  # the box sent it again (no receipt reached it)
    store.write_batch(batch(traveller(1, 1, "yellow", device="box-b", destination=COMMUNITY)))  # the next county
    assert [(r["kind"], r["node"]) for r in owed(store)] == [("test_on_arrival", COMMUNITY)]


@pytest.mark.postgres
def test_two_replicas_storing_one_persons_verdicts_at_once_owe_each_follow_up_once(pg_url: str) -> None:
    stores = [Store(pg_url, alert_urls=POLICY.alert_urls, deadlines=DEADLINES) for _ in range(2)]
    stores[0].migrate()
    plant(stores[0])
    try:
        for round_ in range(10):
            same = batch(*(traveller(round_ * 10 + n + 1, 100 + n, "risk", destination=COMMUNITY) for n in range(5)))
            other = batch(*(traveller(round_ * 10 + n + 1, 100 + n, "risk", device="box-b", destination=COMMUNITY)
                            for n in range(5)))
            threads = [threading.Thread(target=s.write_batch, args=(b,)) for s, b in
                       [(stores[0], same), (stores[1], same), (stores[1], other)]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        rows = owed(stores[0])
        assert len(rows) == 10 and {r["kind"] for r in rows} == {"test_on_arrival", "register_destination"}
    finally:
        for s in stores:
            s.dispose()


def test_arriving_at_the_hotel_closes_the_transfer_and_links_the_verdict(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "red")))
    arrival = traveller(1, 1, "red", device="hotel-box")  # red still: the hotel's box denies them too
    store.write_batch(batch(arrival))
    (transfer,) = owed(store)  # the arrival is not owed a transfer of its own
    assert (transfer["state"], transfer["proof"], transfer["late"]) == ("done", "arrival", False)
    assert transfer["evidence"] == {"proof": "arrival", "verdict": str(arrival.id), "by": "central"}
    assert history(store, transfer["case_id"])[-1] == "done"


def test_arriving_at_the_community_gate_closes_the_registration_not_the_test(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "risk", destination=COMMUNITY)))
    store.write_batch(batch(traveller(1, 1, "green", device="hotel-box")))  # not their community: nothing
    assert {r["state"] for r in owed(store)} == {"open"}
    store.write_batch(batch(traveller(1, 1, "green", device="gate-box")))
    assert [(r["kind"], r["state"]) for r in owed(store)] == [("test_on_arrival", "open"),
                                                              ("register_destination", "done")]


def test_stopped_and_arrived_in_one_batch(store: Store) -> None:
    stopped = traveller(1, 1, "red")
    arrived = traveller(1, 1, "red", device="hotel-box", at=stopped.device_time + timedelta(hours=1))
    store.write_batch(batch(arrived, stopped))
    (transfer,) = owed(store)
    assert transfer["state"] == "done" and transfer["evidence"]["verdict"] == str(arrived.id)
    assert history(store, transfer["case_id"])[-2:] == ["owed", "done"]


def test_overdue_once_with_its_alert_and_history(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "red"), traveller(2, 2, "yellow")))
    transfer, test = owed(store)
    assert mark_overdue(store.engine, POLICY, transfer["deadline"] - timedelta(seconds=1)) == 0
    assert mark_overdue(store.engine, POLICY, transfer["deadline"]) == 1
    assert mark_overdue(store.engine, POLICY, transfer["deadline"] + timedelta(hours=1)) == 0
    transfer, test = owed(store)
    assert (transfer["state"], test["state"]) == ("overdue", "open")
    with store.engine.connect() as conn:
        overdue_alerts = select(func.count()).select_from(alerts).where(alerts.c.obligation_id == transfer["id"])
        assert conn.scalar(overdue_alerts) == 1
    assert history(store, transfer["case_id"])[-1] == "overdue"
    # late evidence still closes it, marked late
    store.write_batch(batch(traveller(1, 1, "red", device="hotel-box")))
    assert (owed(store)[0]["state"], owed(store)[0]["late"]) == ("done", True)


@pytest.mark.postgres
def test_two_replicas_scanning_at_once_alert_once(pg_url: str) -> None:
    stores = [Store(pg_url, alert_urls=POLICY.alert_urls, deadlines=DEADLINES) for _ in range(2)]
    stores[0].migrate()
    plant(stores[0])
    try:
        stores[0].write_batch(batch(*(traveller(n, n, "red") for n in range(1, 301))))
        later = max(r["deadline"] for r in owed(stores[0])) + timedelta(minutes=1)
        marked = [0, 0]

        def scan(n: int) -> None:
            marked[n] = mark_overdue(stores[n].engine, POLICY, later)

        threads = [threading.Thread(target=scan, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(marked) == 300
        with stores[0].engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(alerts).where(alerts.c.obligation_id.is_not(None))) \
                == 300
    finally:
        for s in stores:
            s.dispose()


def test_staff_confirm_with_a_note_and_it_is_audited(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "red")))
    (transfer,) = owed(store)
    with store.engine.connect() as conn:
        county, elsewhere = scope_of(conn, COUNTY), scope_of(conn, OTHER_COUNTY)
    note = Evidence(Proof.STAFF, STAFF.username, transfer["deadline"], note="已送达集中隔离点", by=STAFF.username)
    with pytest.raises(Refused, match=f"no obligation {transfer['id']}"):  # another county's operator
        act(store.engine, transfer["id"], elsewhere, STAFF, note, "10.0.0.9", POLICY)
    with pytest.raises(Refused, match="a note"):
        act(store.engine, transfer["id"], county, STAFF, Evidence(Proof.STAFF, "li", note.at, note=" "), "", POLICY)
    act(store.engine, transfer["id"], county, STAFF, note, "10.0.0.9", POLICY)
    (transfer,) = owed(store)
    assert (transfer["state"], transfer["proof"], transfer["evidence"]) == (
        "done", "staff", {"proof": "staff", "note": "已送达集中隔离点", "by": "li"})
    with store.engine.connect() as conn:
        entry = conn.execute(select(audit_log)).mappings().one()
    assert (entry["username"], entry["action"], entry["address"]) == ("li", "obligation_done", "10.0.0.9")
    with pytest.raises(Refused, match="already done"):
        act(store.engine, transfer["id"], county, STAFF, note, "", POLICY)


def test_waived_with_a_reason(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "yellow")))
    (test,) = owed(store)
    act(store.engine, test["id"], WHOLE, STAFF, Waive("已离开本市，转交外省", "li", test["deadline"]), "", POLICY)
    (test,) = owed(store)
    assert (test["state"], test["evidence"]) == ("waived", {"reason": "已离开本市，转交外省", "by": "li"})
    assert history(store, test["case_id"])[-1] == "waived"


def test_a_case_handed_off_lands_in_the_receiving_offices_worklist(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "red"), traveller(2, 2, "yellow")))
    transfer, _test = owed(store)
    with store.engine.connect() as conn:
        county, receiving = scope_of(conn, COUNTY), scope_of(conn, OTHER_COUNTY)
    assert [r["id"] for r in worklist(store.engine, receiving)] == []
    with pytest.raises(Refused, match="no office"):
        hand_off(store.engine, transfer["case_id"], county, STAFF, "999999", "", "", POLICY)
    with pytest.raises(Refused, match="owes nothing"):
        hand_off(store.engine, transfer["case_id"], receiving, STAFF, COUNTY, "", "", POLICY)
    moved = hand_off(store.engine, transfer["case_id"], county, STAFF, OTHER_COUNTY, "去往江汉区", "10.0.0.9", POLICY)
    assert moved == 1
    assert [r["id"] for r in worklist(store.engine, receiving)] == [transfer["id"]]
    assert transfer["id"] not in [r["id"] for r in worklist(store.engine, county)]
    assert history(store, transfer["case_id"])[-1] == "handoff"
    with store.engine.connect() as conn:
        entry = conn.execute(select(audit_log)).mappings().one()
        assert conn.scalar(select(cases.c.id).where(receiving.case_in())) == transfer["case_id"]  # theirs to read
    assert entry["action"] == "handoff" and "420102 -> 420105" in entry["detail"]


def test_the_worklist_puts_the_most_urgent_first_and_shows_only_its_subtree(store: Store) -> None:
    store.write_batch(batch(traveller(1, 1, "yellow", destination=COMMUNITY), traveller(2, 2, "red"),
                            traveller(3, 3, "outsider", destination=COMMUNITY), traveller(4, 4, "red", device="box-b")))
    mark_overdue(store.engine, POLICY, min(r["deadline"] for r in owed(store)))
    with store.engine.connect() as conn:
        county, community = scope_of(conn, COUNTY), scope_of(conn, COMMUNITY)
    rows = worklist(store.engine, county)
    assert [(r["kind"], r["state"]) for r in rows] == [
        ("isolation_transfer", "overdue"), ("test_on_arrival", "open"), ("register_destination", "open")]
    assert [r["node"] for r in worklist(store.engine, community)] == [COMMUNITY, COMMUNITY]
    assert len(worklist(store.engine, WHOLE)) == 4
