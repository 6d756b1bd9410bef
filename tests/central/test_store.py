"""Storage: the migrations build exactly the schema, ingest's bookkeeping, cases under two writers,
the retention job."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update

from central import queries, retention
from central.auth import Role, User
from central.casework import CaseAction, apply
from central.config import RetentionSettings
from central.intake import check
from central.regions import WHOLE
from central.schema import metadata, verdicts
from central.sql import now
from central.store import Batch, DeviceKey, StillRevoked, Store
from contract import signing, topics
from tests.central.conftest import KEY, flagged, rows
from tests.factories import verdict

OPERATOR = User(id=1, username="op", role=Role.OPERATOR)


def test_the_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_a_batch_with_the_same_verdict_twice_counts_it_once(store: Store) -> None:
    v = flagged(1)
    store.write_batch(rows(v, v, verdict(seq=2)))
    store.write_batch(rows(v))  # redelivered later
    (device,) = queries.fleet(store.engine, timedelta(minutes=1), WHOLE)
    assert (device["stored"], device["max_seq"], device["missing"]) == (2, 2, 0)
    (case,) = queries.list_cases(store.engine, WHOLE)
    assert case["verdicts"] == 1
    assert queries.totals(store.engine, WHOLE)["stored"] == 2


def test_two_writers_give_one_person_one_open_case(store: Store) -> None:
    """Two replicas storing verdicts of the same person at the same moment."""
    other = Store(store.url)
    barrier = threading.Barrier(2)

    def write(s: Store, seq: int) -> None:
        barrier.wait()
        s.write_batch(rows(flagged(seq, person=3)))

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((store, 1), (other, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    (case,) = queries.list_cases(store.engine, WHOLE)
    assert case["verdicts"] == 2


def test_a_closed_case_frees_the_person_for_a_new_one(store: Store) -> None:
    store.write_batch(rows(flagged(1, person=4)))
    (case,) = queries.list_cases(store.engine, WHOLE)
    apply(store.engine, case["id"], CaseAction(action="close"), OPERATOR, WHOLE)
    store.write_batch(rows(flagged(2, person=4)))
    assert [c["status"] for c in queries.list_cases(store.engine, WHOLE, "all")] == ["new", "closed"]


def test_retention_purges_old_verdicts_but_keeps_open_cases_and_figures(store: Store, tmp_path: Path) -> None:
    store.write_batch(rows(verdict(seq=1), flagged(2, person=5), flagged(3, person=6)))
    cases = {c["pseudonym"]: c["id"] for c in queries.list_cases(store.engine, WHOLE)}
    closed = cases[flagged(3, person=6).inputs.person.pseudonym]
    apply(store.engine, closed, CaseAction(action="close"), OPERATOR, WHOLE)
    with store.engine.begin() as conn:
        conn.execute(update(verdicts).values(received_at=now() - timedelta(days=40)))
    settings = RetentionSettings(verdict_days=30, closed_case_days=1)
    done = retention.purge(store.engine, settings)
    assert done["verdicts"] == 2 and done["cases"] == 0  # the open case's verdict stays
    with store.engine.connect() as conn:
        (kept,) = conn.execute(select(verdicts.c.seq)).scalars()
    assert kept == 2
    done = retention.purge(store.engine, settings, at=now() + timedelta(days=2))
    assert done["cases"] == 1 and len(queries.list_cases(store.engine, WHOLE, "all")) == 1
    figures = queries.daily(store.engine, (now() - timedelta(days=1)).date(), (now() + timedelta(days=1)).date(), WHOLE)
    assert sum(f["total"] for f in figures) == 3  # the daily figures outlive the verdicts


def test_the_live_feed_pages_through_a_batch_that_shares_one_arrival_time(sqlite_store: Store) -> None:
    sqlite_store.write_batch(rows(*[flagged(n, person=n) for n in range(1, 6)]))
    window, after, seen = now() - timedelta(minutes=1), "", []
    while True:
        page = queries.flagged_since(sqlite_store.engine, window, WHOLE, 2, after)
        seen += [r["seq"] for r in page]
        if len(page) < 2:
            break
        window, after = page[-1]["received_at"], page[-1]["id"]
    assert sorted(seen) == [1, 2, 3, 4, 5]


def test_a_revoked_box_comes_back_only_with_a_new_key(store: Store) -> None:
    """Registering a revoked box again with the key it was revoked with leaves it revoked."""
    old = KEY.hex()
    assert store.revoke_device("box-a")
    with pytest.raises(StillRevoked, match="new signing key"):
        store.register_device("box-a", "site-a", "traffic", old)
    with pytest.raises(StillRevoked):
        store.register_device("box-a", "site-b", "community", old.upper())  # the same key, spelt otherwise
    assert store.device_keys()["box-a"] == DeviceKey("site-a", KEY, revoked=True)
    store.register_device("box-a", "site-a", "traffic", "cd" * 32)
    assert store.device_keys()["box-a"] == DeviceKey("site-a", bytes.fromhex("cd" * 32), revoked=False)
    store.register_device("box-a", "site-b", "traffic", "cd" * 32)  # a box not revoked: its record changes
    assert store.device_keys()["box-a"].site == "site-b"


def test_the_gaps_of_a_page_of_boxes_are_each_boxs_own(store: Store) -> None:
    """The devices page asks for the gaps of its hundred boxes at once (it once asked box by box)."""
    store.register_device("box-b", "site-a", "traffic", KEY.hex())
    store.write_batch(rows(*(verdict(seq=n) for n in (1, 2, 5, 9))))
    box_b = {"box-b": DeviceKey("site-a", KEY, False)}
    store.write_batch(Batch(verdicts=[
        check(topics.uplink("site-a", "box-b", "verdict"), signing.sign(KEY, verdict(seq=n, device="box-b")), box_b,
              max_bytes=65536).row for n in (1, 4)]))
    both = queries.gaps_of(store.engine, ["box-a", "box-b", "box-c"], WHOLE, 5)
    assert both == {"box-a": [(3, 4), (6, 8)], "box-b": [(2, 3)]}
    assert queries.gaps(store.engine, "box-a", WHOLE, 1) == [(3, 4)]
    assert queries.gaps_of(store.engine, [], WHOLE) == {}


def test_one_box_s_verdicts_are_listed_newest_first_across_its_lives(store: Store) -> None:
    """A box whose outbox was lost starts again at sequence 1: its new life's verdicts are still its newest."""
    old_life = [verdict(seq=n, epoch="0" * 16) for n in (1, 2, 3)]
    new_life = [verdict(seq=n, epoch="1" * 16) for n in (1, 2)]
    store.write_batch(rows(*old_life))
    store.write_batch(rows(*new_life))
    listed = queries.list_verdicts(store.engine, scope=WHOLE, device="box-a")
    assert [(r["epoch"], r["seq"]) for r in listed] == [("1" * 16, 2), ("1" * 16, 1), ("0" * 16, 3), ("0" * 16, 2),
                                                         ("0" * 16, 1)]
