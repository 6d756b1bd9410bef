"""Central's storage: SQLite (WAL) for one county, PostgreSQL by URL for more.

All writes of one ingest batch happen in one transaction (`write_batch`); the collector
acknowledges the batch's messages only after it returns. Verdicts are inserted with "on conflict
do nothing" on their id, so a verdict delivered twice is stored once, whichever replica gets it;
what that insert reports as new (RETURNING) is what the counters count and what opens or joins
cases, in the same transaction, so a redelivered verdict neither counts twice nor alerts twice.

A box's statuses and metrics are applied in the same transaction, each judged by central.lives
against what is stored (the device's status row is locked first, devices in name order, so two
replicas never wait on each other in a circle); `write_batch` returns the identity conflicts it
found, for the collector to tell the boxes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from central import cases, obligations, tally
from central.intake import DeviceKey
from central.lives import Judgement, Life, Report, judge, refused_of
from central.obligations import Policy
from central.regions import WHOLE, RegionError, Scope, node_in, place_site, site_region
from central.schema import (
    collectors,
    dead_letters,
    device_lives,
    device_metrics,
    device_status,
    devices,
    diagnostics,
    rejections,
    sites,
    verdicts,
)
from central.sql import Many, aware, encode_json, now
from common.private import private_file
from contract.messages import FollowUp

MIGRATIONS = Path(__file__).with_name("migrations")
_ALEMBIC = threading.Lock()  # alembic keeps its running context in module globals: one migration at a time
OFFICE_ZONE = ZoneInfo("Asia/Shanghai")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:":
            # it holds password hashes and identities: 0600, and SQLite gives its -wal and -shm the same
            for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
                if name == path or Path(name).exists():
                    private_file(Path(name))
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
        # connect_timeout: an unreachable server fails the attempt instead of hanging it. jit off: every
        # query here is a short index read, but over ten million verdicts the planner's cost estimates
        # pass jit_above_cost and PostgreSQL spends 100+ ms compiling each (bench/bench_dashboard.py)
        connect_args={"connect_timeout": 10, "options": "-c jit=off"},
        json_serializer=encode_json,
    )


@dataclass
class Batch:
    """Everything one ingest batch writes."""

    verdicts: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)  # statuses and metrics, as they arrived
    answers: list[dict[str, Any]] = field(default_factory=list)  # boxes' diagnostics answers
    collector: str = ""  # the replica's client id, counted in `collectors` with `messages`
    messages: int = 0
    # rejections of registered boxes: counted per (device, reason), each with a sample dead letter kept
    # only if it is the first of its kind; write_batch fills `first_rejections` with those it kept
    rejected: dict[tuple[str, str], int] = field(default_factory=dict)
    samples: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    first_rejections: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)  # identity conflicts write_batch found

    def __len__(self) -> int:
        return len(self.verdicts) + len(self.dead) + len(self.reports) + len(self.answers)


@dataclass(frozen=True)
class Conflict:
    """Two boxes use one identity: the life `refused` must stop, `kept` goes on."""

    site: str
    device: str
    kept: str
    refused: str


class StillRevoked(ValueError):
    """A revoked box registered again with the key it was revoked with (the message says what to do)."""


class Store:
    def __init__(self, url: str, *, zone: tzinfo = OFFICE_ZONE, alert_urls: Sequence[str] = (),
                 deadlines: Mapping[FollowUp, float] | None = None) -> None:
        self.url = url
        self.zone = zone  # the office's days, for the daily figures
        self.alert_urls = list(alert_urls)  # webhooks told of each new case and each obligation gone overdue
        # the follow-ups offices owe after a verdict, hours each (none: central keeps no obligations)
        self.obligations = Policy(dict(deadlines or {}), self.alert_urls)
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

    def register_device(
        self, device: str, site: str, kind: str, key_hex: str, *, region: str | None = None, scope: Scope = WHOLE
    ) -> None:
        """Register a box, or change its record. A revoked box comes back only with a new key: its
        old one may be in the hands of whoever has the box (one statement, so two admins at once
        cannot slip past it). A new checkpoint stands at `region`, else at the node of the scope;
        `region` moves a known one. Within a scope, a box, checkpoint or node outside it is
        refused as if it did not exist (RegionError)."""
        key_hex = key_hex.lower()
        row = dict(device=device, site=site, kind=kind, key_hex=key_hex, revoked=False, registered_at=now())
        stmt = self._insert(devices).values(**row)
        old_key_of_revoked = devices.c.revoked.is_(True) & (devices.c.key_hex == stmt.excluded.key_hex)
        stmt = stmt.on_conflict_do_update(index_elements=["device"], set_=row, where=~old_key_of_revoked)
        with self.engine.begin() as conn:
            old_site = conn.scalar(select(devices.c.site).where(devices.c.device == device))
            if old_site is not None and not conn.scalar(select(scope.site_in(literal(old_site)))):
                raise RegionError(f"no device {device!r}")
            known = conn.scalar(select(sites.c.region).where(sites.c.site == site)) is not None
            if known:
                site_region(conn, scope, site)
            if region is not None:
                node_in(conn, scope, region)
            place_site(conn, site, region if region is not None or known or scope.whole else scope.code)
            written = conn.execute(stmt.returning(devices.c.device)).first()
            if written is None:
                raise StillRevoked(f"box {device} was revoked; it can be registered again only with a new signing key")

    def revoke_device(self, device: str, scope: Scope = WHOLE) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(devices.update().where(devices.c.device == device, scope.site_in(devices.c.site))
                                .values(revoked=True))
        return bool(done.rowcount)

    def clear_conflict(self, device: str) -> str | None:
        """Forget an identity conflict once a deployer has given one of the two boxes its own identity:
        every life of the box ends, so whichever reports next starts afresh (and two boxes still sharing
        the identity are caught again). Returns the box's site, or None if it had no conflict."""
        with self.engine.begin() as conn:
            site = conn.scalar(select(device_status.c.site).where(device_status.c.device == device,
                                                                  device_status.c.conflict.is_not(None)))
            if site is None:
                return None
            conn.execute(device_lives.update().where(device_lives.c.device == device)
                         .values(refused=False, ended_at=func.coalesce(device_lives.c.ended_at, now())))
            conn.execute(device_status.update().where(device_status.c.device == device)
                         .values(conflict=None, epoch=None))
        return str(site)

    def collector_ids(self) -> list[str]:
        """The client ids of every collector that ever committed here."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(collectors.c.client_id)))

    def forget_collector(self, client_id: str) -> None:
        """A retired ingest worker leaves the fleet page's list of collectors."""
        with self.engine.begin() as conn:
            conn.execute(collectors.delete().where(collectors.c.client_id == client_id))

    def device_keys(self) -> dict[str, DeviceKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(devices.c.device, devices.c.site, devices.c.key_hex, devices.c.revoked,
                       device_status.c.mac_receipts)
                .outerjoin(device_status, device_status.c.device == devices.c.device))
            return {d: DeviceKey(s, bytes.fromhex(k), bool(r), bool(m)) for d, s, k, r, m in rows}

    # ingest

    def write_batch(self, batch: Batch) -> list[Conflict]:
        with self.engine.begin() as conn:
            if batch.verdicts:
                at = now()  # arrival = this commit, also on a retry: the live feed reads by it
                rows = sorted(({**r, "received_at": at} for r in batch.verdicts), key=lambda r: r["id"])
                rows = list({r["id"]: r for r in rows}.values())
                new_ids = self._insert_verdicts(conn, rows)
                new = [r for r in rows if r["id"] in new_ids]
                tally.count_new_verdicts(conn, new, self.zone)
                case_ids = cases.file_verdicts(conn, new, self.alert_urls, self.obligations.owed)
                obligations.file_verdicts(conn, new, case_ids, self.obligations)
            batch.dead += _store_answers(conn, batch.answers)  # those that answer no request are dead letters
            if batch.dead:
                conn.execute(dead_letters.insert(), batch.dead)
            if batch.rejected:
                batch.first_rejections = self._count_rejections(conn, batch)
            conflicts = self._apply_reports(conn, batch.reports)
            _keep_metrics(conn, batch.reports)
            if batch.collector:
                tally.count_commit(conn, batch.collector, batch.messages)
        return conflicts

    def _apply_reports(self, conn: Connection, reports: list[dict[str, Any]]) -> list[Conflict]:
        by_device: dict[str, list[dict[str, Any]]] = {}
        for row in reports:
            by_device.setdefault(row["device"], []).append(row)
        conflicts = []
        for device in sorted(by_device):
            rows = by_device[device]
            at = now()
            conn.execute(self._insert(device_status).values(device=device, site=rows[0]["site"], state="offline",
                                                            boot=0, last_seen=at).on_conflict_do_nothing())
            locked = select(device_status).where(device_status.c.device == device)
            if conn.dialect.name == "postgresql":
                locked = locked.with_for_update()
            status = dict(conn.execute(locked).mappings().one())
            lives = {r["epoch"]: dict(r) for r in conn.execute(
                select(device_lives).where(device_lives.c.device == device)).mappings()}
            before = {epoch: dict(life) for epoch, life in lives.items()}
            for row in rows:
                conflict = _judge_one(status, lives, row, at)
                if conflict is not None:
                    conflicts.append(conflict)
            conn.execute(device_status.update().where(device_status.c.device == device)
                         .values({k: v for k, v in status.items() if k != "device"}))
            for epoch in sorted(e for e, life in lives.items() if life != before.get(e)):
                life = lives[epoch]
                stmt = self._insert(device_lives).values(**life)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["device", "epoch"],
                    set_={k: v for k, v in life.items()
                          if k not in ("device", "epoch", "max_seq", "stored", "last_verdict_at")},
                ))
        return conflicts

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
        """Insert what is not there yet; the ids that were new."""
        return set(_NEW_VERDICTS.execute(conn, rows).scalars().all())

    # reading

    def latest(self, limit: int = 50, *, flagged_only: bool = False) -> Sequence[Any]:
        query = select(verdicts).order_by(verdicts.c.received_at.desc()).limit(limit)
        if flagged_only:
            query = query.where(verdicts.c.flagged.is_(True))
        with self.engine.connect() as conn:
            return conn.execute(query).mappings().all()

    def counts(self) -> dict[str, int]:
        """Verdicts stored, (device, life, seq) stored more than once, messages rejected (the dead
        letters, and the repeats of a known box's rejections that were only counted)."""
        pairs = select(verdicts.c.device, verdicts.c.epoch, verdicts.c.seq).group_by(
            verdicts.c.device, verdicts.c.epoch, verdicts.c.seq)
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


_NEW_VERDICTS = Many(verdicts, [c.name for c in verdicts.c if c.name != "case_id"],  # what verdict_row fills
                     lambda s: s.on_conflict_do_nothing(index_elements=["id"]).returning(verdicts.c.id))

_STATUS_COLUMNS = {c.name for c in device_status.c} - {"device", "conflict"}
_HISTORY = ("outbox_depth", "outbox_capacity", "cpu_percent", "cpu_temp_c", "disk_free_mb")


def _keep_metrics(conn: Connection, reports: list[dict[str, Any]]) -> None:
    """Each metrics message in the box's history (the charts on its page)."""
    rows = [dict(device=r["device"], received_at=r["received_at"], **{k: r["metrics"].get(k) for k in _HISTORY})
            for r in reports if "metrics" in r]
    if rows:
        conn.execute(device_metrics.insert(), rows)


def _store_answers(conn: Connection, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each answer beside the request it names, if central made that request to this box; a second copy
    of an answer (QoS 1 delivers at least once) changes nothing. The dead letters of answers to no request."""
    dead = []
    for a in answers:
        request = (diagnostics.c.id == a["id"]) & (diagnostics.c.device == a["device"])
        done = conn.execute(diagnostics.update().where(request, diagnostics.c.answered_at.is_(None))
                            .values(answered_at=a["answered_at"], answer=a["answer"]))
        if done.rowcount == 0 and conn.scalar(select(diagnostics.c.id).where(request)) is None:
            dead.append(dict(received_at=a["answered_at"], topic=a["topic"][:256], payload=a["payload"],
                             reason=f"a diagnostics answer to no request central made to {a['device']}"))
    return dead


def _judge_one(
    status: dict[str, Any], lives: dict[str, dict[str, Any]], row: dict[str, Any], at: datetime
) -> Conflict | None:
    """Apply one report to the box's status and lives (in memory), as central.lives judges it."""
    epoch = row["epoch"]
    rank = (row["boot"], row["connection"], row["order_n"])
    current = None
    if status["epoch"] is not None:
        current = lives.get(status["epoch"]) or _new_life(lives, status, aware(status["last_seen"]))
    life = lives.get(epoch)
    judgement = judge(
        _life(current, status) if current is not None else None,
        _life(life) if life is not None else None,
        Report(epoch, rank, online=row["state"] != "offline"),
    )
    if life is None:
        life = _new_life(lives, row, at)
    life["produced"] = max(life["produced"], row["last_seq"])
    conflict = None
    if judgement is Judgement.STALE:
        return None
    for lost, last_seq in row.get("lost_lives", []):  # lives whose outbox the box lost, as it remembers them
        if lost != epoch:
            gone = lives.get(lost) or _new_life(lives, {**row, "epoch": lost}, at)
            gone["produced"] = max(gone["produced"], last_seq)
            gone["ended_at"] = gone["ended_at"] or at
    if judgement is Judgement.NEW_LIFE and current is not None:
        current["ended_at"] = at
    if judgement is Judgement.TWIN:
        assert current is not None
        loser = lives[refused_of(_life(current, status), _life(life)).epoch]
        winner = life if loser is current else current
        loser.update(refused=True, ended_at=at)
        winner["ended_at"] = None
        conflict = Conflict(row["site"], row["device"], kept=winner["epoch"], refused=loser["epoch"])
        status["conflict"] = dict(kept=winner["epoch"], refused=loser["epoch"], at=at.isoformat())
        status["epoch"] = winner["epoch"]
        if winner is not life:
            return conflict  # the report came from the refused life
    life.update(boot=rank[0], connection=rank[1], order_n=rank[2])
    status.update({k: v for k, v in row.items() if k in _STATUS_COLUMNS})
    status.update(epoch=epoch, last_seen=at,
                  clock_offset_s=round((row["device_time"] - row["received_at"]).total_seconds(), 1))
    return conflict


def _new_life(lives: dict[str, dict[str, Any]], of: dict[str, Any], at: datetime) -> dict[str, Any]:
    life = lives[of["epoch"]] = dict(device=of["device"], epoch=of["epoch"], site=of["site"], max_seq=0, stored=0,
                                     produced=0, last_verdict_at=None, boot=0, connection=0, order_n=0,
                                     first_seen=at, ended_at=None, refused=False)
    return life


def _life(row: dict[str, Any], status: dict[str, Any] | None = None) -> Life:
    """A life as central.lives sees it; the current one ranks by the status row (always the newest)."""
    ranked = status if status is not None else row
    return Life(
        epoch=row["epoch"],
        rank=(ranked["boot"], ranked["connection"], ranked["order_n"]),
        first_seen=aware(row["first_seen"]).timestamp(),
        ended=row["ended_at"] is not None,
        refused=bool(row["refused"]),
    )
