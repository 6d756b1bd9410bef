"""The collector's state as a deployer needs to see it: is the database taking what arrives, is the
broker there, how much waits un-acknowledged, and since when.

A pure state machine (events in, log lines out; no I/O, no clock: every event carries its time).
The ingest loop feeds it; /healthz, the devices page, systemd's STATUS and the log read it. It
speaks once per change of state, so a database away for an hour is two log lines, not a
traceback a second.

Storage: `waiting` (start-up: the database has not answered yet) -> `available` (the schema is in
place, writes go through) <-> `unavailable` (the last write failed; the batch is held
un-acknowledged and tried again). Broker: `connecting` -> `subscribed` <-> `lost`. A write that
has not come back after `STALLED_AFTER_S` (a lock, a server that hangs) makes health say "storage
not answering" before the write fails, so /healthz never says ok while nothing is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

STALLED_AFTER_S = 5.0  # a batch commit takes well under a second; this long is a database not answering


class Storage(StrEnum):
    WAITING = "waiting for the database"
    AVAILABLE = "storage available"
    UNAVAILABLE = "storage unavailable"


class Broker(StrEnum):
    CONNECTING = "connecting to the broker"
    SUBSCRIBED = "subscribed"
    LOST = "broker connection lost"


@dataclass(frozen=True)
class Line:
    """One log line to write: level, words, structured fields."""

    level: int
    msg: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    """What /healthz answers: `ok` only while the broker is subscribed and the database takes writes."""

    status: str  # "ok", or what is wrong, in words
    storage: Storage
    broker: Broker
    since: datetime  # when the storage entered its state
    reason: str  # the database's last error, while not available
    last_commit_age_s: float | None  # None: nothing committed by this process yet
    backlog: int  # messages received and not yet committed (held un-acknowledged at the broker)
    committed: int  # messages committed by this process

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def document(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "storage": self.storage.value,
            "broker": self.broker.value,
            "since": self.since.isoformat(),
            "reason": self.reason,
            "last_commit_age_s": None if self.last_commit_age_s is None else round(self.last_commit_age_s, 1),
            "backlog": self.backlog,
            "committed": self.committed,
        }


class WriterState:
    def __init__(self, at: datetime) -> None:
        self.storage = Storage.WAITING
        self.broker = Broker.CONNECTING
        self.since = at  # of the storage state
        self.broker_since = at
        self.reason = ""
        self.last_commit: datetime | None = None
        self.committed = 0
        self.writing_since: datetime | None = None  # a write under way

    # storage events

    def write_started(self, at: datetime) -> list[Line]:
        self.writing_since = at
        return []

    def storage_failed(self, at: datetime, reason: str, backlog: int) -> list[Line]:
        """A connect, migration, read or write failed; the caller retries after a delay."""
        self.writing_since = None
        first = not self.reason
        self.reason = reason  # the latest, for /healthz; a server starting up changes it several times
        if self.storage is Storage.AVAILABLE:
            self.storage, self.since = Storage.UNAVAILABLE, at
            return [Line(logging.ERROR, "storage unavailable: holding messages un-acknowledged and retrying",
                         {"reason": reason, "backlog": backlog})]
        if self.storage is Storage.WAITING and first:
            return [Line(logging.WARNING, "waiting for the database", {"reason": reason})]
        return []

    def storage_ready(self, at: datetime) -> list[Line]:
        """Start-up: the database answered and its schema is current."""
        if self.storage is not Storage.WAITING:
            return []
        waited = (at - self.since).total_seconds()
        self.storage, self.since, self.reason = Storage.AVAILABLE, at, ""
        return [Line(logging.INFO, "database ready", {"waited_s": round(waited, 1)})]

    def committed_batch(self, at: datetime, messages: int) -> list[Line]:
        self.writing_since = None
        self.last_commit = at
        self.committed += messages
        if self.storage is not Storage.UNAVAILABLE:
            return []
        away = (at - self.since).total_seconds()
        self.storage, self.since, self.reason = Storage.AVAILABLE, at, ""
        return [Line(logging.WARNING, "storage available again", {"unavailable_s": round(away, 1)})]

    # broker events

    def broker_subscribed(self, at: datetime) -> list[Line]:
        if self.broker is Broker.SUBSCRIBED:
            return []
        lines = []
        if self.broker is Broker.LOST:
            lines.append(Line(logging.WARNING, "broker connection back",
                              {"lost_s": round((at - self.broker_since).total_seconds(), 1)}))
        else:
            lines.append(Line(logging.INFO, "collector subscribed"))
        self.broker, self.broker_since = Broker.SUBSCRIBED, at
        return lines

    def broker_lost(self, at: datetime, reason: str) -> list[Line]:
        if self.broker is Broker.SUBSCRIBED:
            self.broker, self.broker_since = Broker.LOST, at
            return [Line(logging.ERROR, "broker connection lost; reconnecting", {"reason": reason})]
        return []

    # reading

    def health(self, at: datetime, backlog: int) -> Health:
        stalled = self.writing_since is not None and (at - self.writing_since).total_seconds() > STALLED_AFTER_S
        if self.storage is not Storage.AVAILABLE:
            status = self.storage.value
        elif stalled:
            status = "storage not answering"
        elif self.broker is not Broker.SUBSCRIBED:
            status = "collector not subscribed"
        else:
            status = "ok"
        age = None if self.last_commit is None else max(0.0, (at - self.last_commit).total_seconds())
        return Health(status, self.storage, self.broker, self.since, self.reason, age, backlog, self.committed)
