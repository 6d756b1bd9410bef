"""The durable outbox: every verdict is committed here before anyone sees it.

Theory of operation: one SQLite file in WAL mode with `synchronous=FULL`, so a committed row
survives a power cut. `append` assigns the device's next sequence number in the same transaction
that stores the row, so sequence numbers never repeat or skip, across restarts too. The publisher
reads rows in sequence order with `pending` and deletes them with `remove_ranges` only once central
has confirmed it stored them (agent.link explains why the broker's PUBACK is not enough).
The boot counter is bumped once per `open` with `new_boot`.

Life (`epoch`): a random id made together with the outbox and kept inside it. Sequence numbers
and boots count within one life; an outbox that is lost (deleted, a new SD card) takes its life
with it, and the next start begins a new one from sequence 1, which central tells apart from the
old one instead of mistaking the new rows for the old ones. An outbox written before lives were
kept, with rows still in it, goes on unnamed (epoch None) until it is empty at a start.

The file is created 0600 whatever the umask (flagged verdicts hold identities), and it must stay
the file that was opened: `append` refuses to record into an outbox that was deleted or replaced
under the running agent (its rows would vanish with the process), raising `OutboxGone`.

Capacity policy (tested): the outbox holds at most `capacity` rows. When it is full, appending a
verdict evicts the oldest *pass* verdict not yet sent (counted in `evicted`, reported in metrics so
central can explain the gap); flagged verdicts are never evicted, so an outbox full of flagged
verdicts keeps growing past its capacity and says so (`over_capacity`). A full disk raises
`OutboxFull`: the caller must not show a verdict it could not record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    verdict_id TEXT NOT NULL UNIQUE,
    boot INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pass ON outbox (flagged, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS life (epoch TEXT NOT NULL);
"""
SCHEMA_VERSION = 1
"""The outbox's layout, kept in the file (PRAGMA user_version; 0: from before it was kept). A release
changes the layout only by adding (a table, a column with a default) and raises this number, migrating
older outboxes forward when it opens them; a release rolled back to still reads and writes the newer
layout, since it names every column it uses. So a switch either way loses nothing (docs/deploy.md)."""


class OutboxError(Exception):
    """The outbox cannot record a verdict."""


class OutboxFull(OutboxError):
    """The disk is full (or the file cannot grow): nothing was recorded."""


class OutboxGone(OutboxError):
    """The outbox file was deleted or replaced while the agent ran: nothing more can be recorded."""


@dataclass(frozen=True)
class Row:
    seq: int
    verdict_id: str
    boot: int
    flagged: bool
    topic: str
    payload: bytes
    created: float  # wall-clock seconds when committed


def connect(path: Path, durable: bool = True) -> sqlite3.Connection:
    """A connection to the outbox file. `durable`: every commit is on disk when it returns (fsync);
    without, a power cut may undo the last commits (right for deletions: an undone one is sent again)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():  # created private first: SQLite gives -wal and -shm the same mode
        # Never open (and close) a file this process may already hold in SQLite: closing any descriptor
        # of it drops all of the process's locks on it, and the next process to close the outbox would
        # take its write-ahead log, and with it what a power cut then finds committed, from under it.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if existing.exists():
            existing.chmod(0o600)  # one an earlier release made readable by all
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    db.execute("PRAGMA journal_size_limit=1048576")  # give the WAL's space back after a burst
    return db


class Outbox:
    """Verdicts waiting for central. An instance may be shared by threads (its lock serialises them);
    the publisher opens its own, so sending never waits for recording."""

    def __init__(self, path: Path, capacity: int = 100_000, *, durable: bool = True) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self.durable = durable
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._inode: tuple[int, int] | None = None
        self.epoch: str | None = None

    def open(self, *, new_boot: bool = False) -> Outbox:
        """Open the file; with `new_boot` count one more start of the agent."""
        self._db = connect(self.path, self.durable)
        self._db.executescript(_SCHEMA)
        self._check_layout(self._db)
        stat = os.stat(self.path)
        self._inode = (stat.st_dev, stat.st_ino)
        with self._tx() as db:
            self.epoch = self._life(db)
            if new_boot:
                self._bump(db, "boot")
        return self

    def _check_layout(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            log.warning("the outbox was written by a newer release (a rollback?): reading it as this release's",
                        extra={"outbox_schema": version, "this_release_reads": SCHEMA_VERSION})

    def _life(self, db: sqlite3.Connection) -> str | None:
        row = db.execute("SELECT epoch FROM life").fetchone()
        if row is not None:
            return str(row[0]) or None
        if self._depth(db) and self._counter(db, "seq"):
            db.execute("INSERT INTO life (epoch) VALUES ('')")  # rows from before lives: unnamed
            return None
        epoch = secrets.token_hex(8)
        db.execute("DELETE FROM counters")  # a new life counts from 1
        db.execute("INSERT INTO life (epoch) VALUES (?)", (epoch,))
        return epoch

    def still_there(self) -> bool:
        """Whether the path still names the file this outbox opened."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (stat.st_dev, stat.st_ino) == self._inode

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Outbox:
        return self if self._db is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the outbox is not open")
        return self._db

    def _tx(self) -> _Transaction:
        return _Transaction(self.db, self._lock)

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, by: int = 1) -> int:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )
        return int(db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    @staticmethod
    def _counter(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counter(self.db, name)

    @property
    def boot(self) -> int:
        return self.counter("boot")

    @property
    def last_seq(self) -> int:
        return self.counter("seq")

    @property
    def evicted(self) -> int:
        return self.counter("evicted")

    def next_seq(self) -> int:
        """The sequence number the next `append` will assign (for building the verdict to store)."""
        return self.last_seq + 1

    def append(self, seq: int, verdict_id: str, flagged: bool, topic: str, payload: bytes) -> None:
        """Commit one verdict built with `seq == next_seq()`; raise OutboxFull if the disk is full,
        OutboxGone if the file is no longer there."""
        if not self.still_there():
            raise OutboxGone(f"{self.path} was deleted or replaced while the agent ran: nothing recorded")
        try:
            with self._tx() as db:
                assigned = self._bump(db, "seq")
                if assigned != seq:
                    raise OutboxError(f"sequence {seq} was built but {assigned} is next: one writer only")
                if self._depth(db) >= self.capacity:
                    self._evict_oldest_pass(db)
                db.execute(
                    "INSERT INTO outbox (seq, verdict_id, boot, flagged, topic, payload, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (seq, verdict_id, self.boot, int(flagged), topic, payload, time.time()),
                )
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise OutboxFull(f"{self.path}: disk full, the verdict was not recorded") from exc
            raise

    def _evict_oldest_pass(self, db: sqlite3.Connection) -> None:
        victim = db.execute("SELECT seq FROM outbox WHERE flagged = 0 ORDER BY seq LIMIT 1").fetchone()
        if victim is not None:
            db.execute("DELETE FROM outbox WHERE seq = ?", victim)
            self._bump(db, "evicted")

    @staticmethod
    def _depth(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def depth(self) -> int:
        with self._lock:
            return self._depth(self.db)

    def over_capacity(self) -> bool:
        return self.depth() > self.capacity

    def pending(self, after_seq: int = 0, limit: int = 500) -> list[Row]:
        return self._select("WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))

    def rows(self, seqs: list[int]) -> list[Row]:
        """The rows with these sequence numbers that are still here (at most 900 asked at once)."""
        if not seqs:
            return []
        return self._select(f"WHERE seq IN ({','.join('?' * len(seqs))}) ORDER BY seq", tuple(seqs))

    def _select(self, where: str, args: tuple[int, ...]) -> list[Row]:
        cur = self.db.execute(
            f"SELECT seq, verdict_id, boot, flagged, topic, payload, created FROM outbox {where}", args
        )
        return [Row(s, v, b, bool(f), t, bytes(p), c) for s, v, b, f, t, p, c in cur]

    def remove(self, seqs: list[int]) -> int:
        """Delete the rows central has stored; returns how many were here."""
        if not seqs:
            return 0
        with self._tx() as db:
            cur = db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            return cur.rowcount


class LifeRecord:
    """What a box remembers of its lives outside the outbox (in its state directory), so that when
    the outbox is lost the next life can still tell central how far the lost one had got.

    Written at every tick and at stop, so it lags the outbox by at most a second. A record naming
    another life than the outbox's means that life's outbox is gone: it is kept in `lost` (the last
    five) and reported in every birth of the new life.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lost: list[dict[str, object]] = []

    def start(self, epoch: str | None, last_seq: int) -> dict[str, object] | None:
        """Read the record at start; return the life whose outbox was lost since the last run, if any."""
        try:
            data = json.loads(self.path.read_text())
            old_epoch, old_last, self.lost = data["epoch"], int(data["last_seq"]), list(data.get("lost", []))[-5:]
        except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: nothing to tell
            self.update(epoch, last_seq)
            return None
        gone = None
        if old_epoch != epoch:
            gone = {"epoch": old_epoch, "last_seq": old_last}
            self.lost = [*self.lost, gone][-5:]
        self.update(epoch, last_seq)
        return gone

    def update(self, epoch: str | None, last_seq: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"epoch": epoch, "last_seq": last_seq, "lost": self.lost}))
        tmp.replace(self.path)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT under the outbox's lock, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self.db.execute("COMMIT")
            elif self.db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                self.db.execute("ROLLBACK")
        finally:
            self.lock.release()
