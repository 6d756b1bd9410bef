"""The collector's state machine, as a table of events and what each must say and show."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central.writer_state import Broker, Storage, WriterState

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


# (name, events, expected log lines [(level, msg)], expected health status, storage, broker)
# An event is (kind, seconds, *args).
VECTORS: list[tuple[str, list[tuple[Any, ...]], list[tuple[str, str]], str, Storage, Broker]] = [
    ("fresh start", [], [], "waiting for the database", Storage.WAITING, Broker.CONNECTING),
    ("database down at start: one line, however many tries",
     [("failed", 1, "refused"), ("failed", 2, "refused"), ("failed", 4, "refused")],
     [("WARNING", "waiting for the database")], "waiting for the database", Storage.WAITING, Broker.CONNECTING),
    ("another error while waiting is no new state (health shows it)",
     [("failed", 1, "refused"), ("failed", 2, "the database system is starting up")],
     [("WARNING", "waiting for the database")], "waiting for the database", Storage.WAITING, Broker.CONNECTING),
    ("ready, then subscribed: healthy",
     [("failed", 1, "refused"), ("ready", 5), ("subscribed", 6)],
     [("WARNING", "waiting for the database"), ("INFO", "database ready"), ("INFO", "collector subscribed")],
     "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("ready but not subscribed yet",
     [("ready", 0)], [("INFO", "database ready")], "collector not subscribed", Storage.AVAILABLE, Broker.CONNECTING),
    ("a write fails: one line, however many retries",
     [("ready", 0), ("subscribed", 0), ("committed", 1, 10), ("failed", 2, "disk full"), ("failed", 3, "disk full")],
     [("INFO", "database ready"), ("INFO", "collector subscribed"),
      ("ERROR", "storage unavailable: holding messages un-acknowledged and retrying")],
     "storage unavailable", Storage.UNAVAILABLE, Broker.SUBSCRIBED),
    ("a commit ends the outage",
     [("ready", 0), ("subscribed", 0), ("failed", 2, "disk full"), ("failed", 9, "disk full"), ("committed", 12, 5)],
     [("INFO", "database ready"), ("INFO", "collector subscribed"),
      ("ERROR", "storage unavailable: holding messages un-acknowledged and retrying"),
      ("WARNING", "storage available again")],
     "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("another error during an outage is no new state",
     [("ready", 0), ("failed", 2, "disk full"), ("failed", 3, "locked")],
     [("INFO", "database ready"), ("ERROR", "storage unavailable: holding messages un-acknowledged and retrying")],
     "storage unavailable", Storage.UNAVAILABLE, Broker.CONNECTING),
    ("the broker goes and comes back: two lines",
     [("ready", 0), ("subscribed", 1), ("lost", 5, "connection lost"), ("lost", 6, "refused"), ("subscribed", 9)],
     [("INFO", "database ready"), ("INFO", "collector subscribed"),
      ("ERROR", "broker connection lost; reconnecting"), ("WARNING", "broker connection back")],
     "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("broker lost: not healthy",
     [("ready", 0), ("subscribed", 1), ("lost", 5, "connection lost")],
     [("INFO", "database ready"), ("INFO", "collector subscribed"), ("ERROR", "broker connection lost; reconnecting")],
     "collector not subscribed", Storage.AVAILABLE, Broker.LOST),
    ("a second subscription (a re-subscribe) says nothing",
     [("ready", 0), ("subscribed", 1), ("subscribed", 2)],
     [("INFO", "database ready"), ("INFO", "collector subscribed")], "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("a write that does not come back is not ok, and says nothing yet",
     [("ready", 0), ("subscribed", 0), ("committed", 1, 3), ("writing", 2)],
     [("INFO", "database ready"), ("INFO", "collector subscribed")],
     "storage not answering", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("a write under way for a moment is ok",
     [("ready", 0), ("subscribed", 0), ("writing", 58)],
     [("INFO", "database ready"), ("INFO", "collector subscribed")], "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("the stalled write fails: unavailable",
     [("ready", 0), ("subscribed", 0), ("writing", 2), ("failed", 12, "database is locked")],
     [("INFO", "database ready"), ("INFO", "collector subscribed"),
      ("ERROR", "storage unavailable: holding messages un-acknowledged and retrying")],
     "storage unavailable", Storage.UNAVAILABLE, Broker.SUBSCRIBED),
    ("the stalled write goes through: ok",
     [("ready", 0), ("subscribed", 0), ("writing", 2), ("committed", 40, 9)],
     [("INFO", "database ready"), ("INFO", "collector subscribed")], "ok", Storage.AVAILABLE, Broker.SUBSCRIBED),
    ("a second ready says nothing",
     [("ready", 0), ("ready", 1)], [("INFO", "database ready")], "collector not subscribed", Storage.AVAILABLE,
     Broker.CONNECTING),
]


def play(state: WriterState, events: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
    said = []
    for kind, s, *args in events:
        if kind == "failed":
            lines = state.storage_failed(at(s), args[0], backlog=3)
        elif kind == "ready":
            lines = state.storage_ready(at(s))
        elif kind == "committed":
            lines = state.committed_batch(at(s), args[0])
        elif kind == "writing":
            lines = state.write_started(at(s))
        elif kind == "subscribed":
            lines = state.broker_subscribed(at(s))
        else:
            lines = state.broker_lost(at(s), args[0])
        said += [(logging.getLevelName(line.level), line.msg) for line in lines]
    return said


@pytest.mark.parametrize(("name", "events", "lines", "status", "storage", "broker"), VECTORS,
                         ids=[v[0] for v in VECTORS])
def test_vectors(
    name: str, events: list[tuple[Any, ...]], lines: list[tuple[str, str]], status: str, storage: Storage,
    broker: Broker,
) -> None:
    state = WriterState(T0)
    assert play(state, events) == lines
    health = state.health(at(60), backlog=7)
    assert (health.status, health.storage, health.broker, health.backlog) == (status, storage, broker, 7)
    assert health.ok == (status == "ok")


def test_health_tells_since_when_why_and_how_long_since_the_last_commit() -> None:
    state = WriterState(T0)
    state.storage_ready(at(1))
    state.broker_subscribed(at(1))
    assert state.health(at(2), 0).last_commit_age_s is None  # nothing committed yet
    state.committed_batch(at(10), 4)
    state.committed_batch(at(20), 6)
    (line,) = state.storage_failed(at(30), "database or disk is full", backlog=120)
    assert line.fields == {"reason": "database or disk is full", "backlog": 120}
    health = state.health(at(45), backlog=300)
    assert health.document() == {
        "status": "storage unavailable", "storage": "storage unavailable", "broker": "subscribed",
        "since": at(30).isoformat(), "reason": "database or disk is full", "last_commit_age_s": 25.0,
        "backlog": 300, "committed": 10,
    }
    (back,) = state.committed_batch(at(50), 300)
    assert back.fields == {"unavailable_s": 20.0}
    health = state.health(at(51), backlog=0)
    assert (health.since, health.reason, health.committed, health.last_commit_age_s) == (at(50), "", 310, 1.0)


def test_the_wait_at_start_is_measured() -> None:
    state = WriterState(T0)
    state.storage_failed(at(1), "refused", backlog=0)
    (line,) = state.storage_ready(at(95))
    assert line.fields == {"waited_s": 95.0}


def test_health_shows_the_latest_error() -> None:
    state = WriterState(T0)
    state.storage_failed(at(1), "Connection refused", backlog=0)
    state.storage_failed(at(3), "the database system is starting up", backlog=0)
    assert state.health(at(4), 0).reason == "the database system is starting up"
