"""Central's storage: SQLite (WAL) for one county, PostgreSQL by URL for more.

All writes of one ingest batch happen in one transaction (`write_batch`); the collector
acknowledges the batch's messages only after it returns. Verdicts are inserted with "on conflict
do nothing" on their id, so a verdict delivered twice is stored once, whichever replica gets it;
what that insert reports as new (RETURNING) is what the counters count and what opens or joins
cases, in the same transaction, so a redelivered verdict neither counts twice nor alerts twice.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Connection, Engine, Text, bindparam, cast, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite

from central import cases, tally
from central.schema import dead_letters, device_status, devices, rejections, verdicts
from central.sql import encode_json, now

MIGRATIONS = Path(__file__).with_name("migrations")
_ALEMBIC = threading.Lock()  # alembic keeps its running context in module globals: one migration at a time
OFFICE_ZONE = ZoneInfo("Asia/Shanghai")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A lock held longer than `timeout` fails the write, which ingest retries while feeding the
        # watchdog: waiting inside SQLite for longer would starve systemd's watchdog (WatchdogSec=30).
        engine = create_engine(
            url, connect_args={"timeout": 10, "check_same_thread": False}, json_serializer=encode_json
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk, power cut or not
            cur.close()

        return engine
    return create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1),
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},  # an unreachable server fails the attempt instead of hanging it
        json_serializer=encode_json,
    )


@dataclass
class Batch:
    """Everything one ingest batch writes."""

    verdicts: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)  # device -> latest columns
    collector: str = ""  # the replica's client id, counted in `collectors` with `messages`
    messages: int = 0
    # rejections of registered boxes: counted per (device, reason), each with a sample dead letter kept
    # only if it is the first of its kind; write_batch fills `first_rejections` with those it kept
    rejected: dict[tuple[str, str], int] = field(default_factory=dict)
    samples: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    first_rejections: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.verdicts) + len(self.dead) + len(self.status)


@dataclass(frozen=True)
class DeviceKey:
    site: str
    key: bytes
    revoked: bool


class Store:
    def __init__(self, url: str, *, zone: tzinfo = OFFICE_ZONE, alert_urls: Sequence[str] = ()) -> None:
        self.url = url
        self.zone = zone  # the office's days, for the daily figures
        self.alert_urls = list(alert_urls)  # webhooks told of each new case
        self.engine = make_engine(url)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to run on every start)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with _ALEMBIC, self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # device registry

    def register_device(self, device: str, site: str, kind: str, key_hex: str) -> None:
        row = dict(device=device, site=site, kind=kind, key_hex=key_hex, revoked=False, registered_at=now())
        stmt = self._insert(devices).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=["device"], set_=row)
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def revoke_device(self, device: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(devices.update().where(devices.c.device == device).values(revoked=True))
        return bool(done.rowcount)

    def device_keys(self) -> dict[str, DeviceKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(devices.c.device, devices.c.site, devices.c.key_hex, devices.c.revoked))
            return {d: DeviceKey(s, bytes.fromhex(k), bool(r)) for d, s, k, r in rows}

    # ingest

    def write_batch(self, batch: Batch) -> None:
        with self.engine.begin() as conn:
            if batch.verdicts:
                at = now()  # arrival = this commit, also on a retry: the live feed reads by it
                rows = sorted(({**r, "received_at": at} for r in batch.verdicts), key=lambda r: r["id"])
                rows = list({r["id"]: r for r in rows}.values())
                new_ids = self._insert_verdicts(conn, rows)
                new = [r for r in rows if r["id"] in new_ids]
                tally.count_new_verdicts(conn, new, self.zone)
                cases.file_verdicts(conn, new, self.alert_urls)
            if batch.dead:
                conn.execute(dead_letters.insert(), batch.dead)
            if batch.rejected:
                batch.first_rejections = self._count_rejections(conn, batch)
            for device in sorted(batch.status):
                row = batch.status[device]
                stmt = self._insert(device_status).values(**row)
                update = {k: v for k, v in row.items() if k != "device"}  # only what the messages said
                stored_at = device_status.c.device_time
                newer = stored_at.is_(None) | (stored_at <= stmt.excluded.device_time)
                conn.execute(stmt.on_conflict_do_update(index_elements=["device"], set_=update, where=newer))
            if batch.collector:
                tally.count_commit(conn, batch.collector, batch.messages)

    def _count_rejections(self, conn: Connection, batch: Batch) -> list[tuple[str, str]]:
        """Count the batch's rejections of registered boxes; keep a dead letter for the first of
        each (device, reason) only. The kinds seen for the first time."""
        at = now()
        first = []
        for device, reason in sorted(batch.rejected):
            n = batch.rejected[(device, reason)]
            known = conn.scalar(
                select(rejections.c.count).where(rejections.c.device == device, rejections.c.reason == reason)
            )
            stmt = self._insert(rejections).values(device=device, reason=reason, count=n, first_at=at, last_at=at)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["device", "reason"], set_=dict(count=rejections.c.count + n, last_at=at)
            ))
            if known is None:  # two replicas may both keep a first sample: harmless
                conn.execute(dead_letters.insert(), [batch.samples[(device, reason)]])
                first.append((device, reason))
        return first

    def _insert_verdicts(self, conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert what is not there yet; the ids that were new.

        On PostgreSQL the batch goes as one array per column (INSERT ... SELECT unnest(...), and a
        JSON array per JSON column): a statement of constant text with 27 parameters, where a
        multi-row VALUES list has thousands of placeholders for psycopg to parse on every batch.
        """
        if self.engine.dialect.name != "postgresql":
            each = self._insert(verdicts).on_conflict_do_nothing(index_elements=["id"]).returning(verdicts.c.id)
            return set(conn.execute(each, rows).scalars())
        json_columns = {c.name for c in verdicts.c if isinstance(c.type, JSON)}  # one JSON array each
        arrays = select(*[
            func.json_array_elements(cast(bindparam(c.name, type_=Text), JSON)) if c.name in json_columns
            else func.unnest(bindparam(c.name, type_=postgresql.ARRAY(c.type)))
            for c in verdicts.c
        ])
        batch = (
            postgresql.insert(verdicts)
            .from_select([c.name for c in verdicts.c], arrays)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(verdicts.c.id)
        )
        columns = {
            c.name: "[" + ",".join(encode_json(r[c.name]) for r in rows) + "]" if c.name in json_columns
            else [r.get(c.name) for r in rows]
            for c in verdicts.c
        }
        return set(conn.execute(batch, columns).scalars())

    # reading

    def latest(self, limit: int = 50, *, flagged_only: bool = False) -> Sequence[Any]:
        query = select(verdicts).order_by(verdicts.c.received_at.desc()).limit(limit)
        if flagged_only:
            query = query.where(verdicts.c.flagged.is_(True))
        with self.engine.connect() as conn:
            return conn.execute(query).mappings().all()

    def counts(self) -> dict[str, int]:
        """Verdicts stored, (device, seq) pairs stored more than once, messages rejected (the dead
        letters, and the repeats of a known box's rejections that were only counted)."""
        pairs = select(verdicts.c.device, verdicts.c.seq).group_by(verdicts.c.device, verdicts.c.seq)
        repeated = pairs.having(func.count() > 1).subquery()
        with self.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(verdicts)) or 0
            dupes = conn.scalar(select(func.count()).select_from(repeated)) or 0
            dead = conn.scalar(select(func.count()).select_from(dead_letters)) or 0
            dead += conn.scalar(select(func.coalesce(func.sum(rejections.c.count - 1), 0))) or 0
        return {"stored": stored, "duplicates": dupes, "dead_letters": dead}

    def dead_letters(self, limit: int = 50) -> Sequence[Any]:
        query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return conn.execute(query).mappings().all()

    def device_status(self) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(device_status).order_by(device_status.c.device)).mappings().all()
