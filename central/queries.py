"""What the dashboard and the API read. Each query is shaped for one of the indexes in schema.py.

Nothing here returns a full identity: verdict payloads lose `inputs.person.identity`, and cases
carry it only through casework.unmask (audited).

Every query takes the reader's Scope (central.regions) and filters on it: rows of checkpoints
outside the reader's subtree, cases opened there, and links to such cases (a verdict's case id, a
case's last checkpoint) are not there for them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, and_, func, literal_column, or_, select, tuple_
from sqlalchemy import case as when

from central.regions import Scope
from central.schema import (
    case_events,
    cases,
    collectors,
    daily_figures,
    dead_letters,
    device_lives,
    device_status,
    devices,
    rejections,
    verdicts,
)
from central.schema import sites as sites_table  # `sites` is the query below
from central.sql import aware, larger, now, utc
from central.tally import FIGURES


def verdict_columns(scope: Scope) -> list[ColumnElement[Any]]:
    """A verdict's columns but its payload; its case id only when the case is the reader's."""
    if scope.whole:
        return [c for c in verdicts.c if c.name != "payload"]
    return [c if c.name != "case_id" else _only_if(scope.case_id_in(c), c) for c in verdicts.c if c.name != "payload"]


def case_columns(scope: Scope, *without: str) -> list[ColumnElement[Any]]:
    """A case's columns but its identity (and `without`); where it was last seen only when that
    checkpoint is the reader's."""
    chosen = [c for c in cases.c if c.name not in ("identity", *without)]
    if scope.whole:
        return list(chosen)
    seen_here = scope.site_in(cases.c.last_site)
    return [_only_if(seen_here, c) if c.name in ("last_site", "last_seen") else c for c in chosen]


def _only_if(condition: ColumnElement[bool], column: ColumnElement[Any]) -> ColumnElement[Any]:
    return when((condition, column), else_=None).label(column.name)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The local day's first and next-day's first instant, in UTC as stored."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return utc(start), utc(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone))


def without_identity(payload: dict[str, Any]) -> dict[str, Any]:
    person = dict(payload.get("inputs", {}).get("person", {}))
    person.pop("identity", None)
    return {**payload, "inputs": {**payload.get("inputs", {}), "person": person}}


# verdicts


def list_verdicts(
    engine: Engine,
    *,
    scope: Scope,
    site: str | None = None,
    device: str | None = None,
    flagged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> Sequence[Any]:
    """Newest first: by arrival for one box (its lives' sequences each start at 1, so the sequence
    alone does not say which is newer; a batch's verdicts share an arrival, and go by sequence), by
    device time for one checkpoint, else by arrival."""
    query = select(*verdict_columns(scope)).where(scope.site_in(verdicts.c.site)).limit(limit)
    if device is not None:
        query = query.where(verdicts.c.device == device).order_by(verdicts.c.received_at.desc(), verdicts.c.seq.desc())
    elif site is not None:
        query = query.where(verdicts.c.site == site).order_by(verdicts.c.device_time.desc())
    else:
        query = query.order_by(verdicts.c.received_at.desc())
    if site is not None and device is not None:
        query = query.where(verdicts.c.site == site)
    if flagged is not None:
        query = query.where(verdicts.c.flagged.is_(flagged))
    if since is not None:
        query = query.where(verdicts.c.device_time >= utc(since))
    if until is not None:
        query = query.where(verdicts.c.device_time < utc(until))
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def verdict(engine: Engine, verdict_id: str, scope: Scope) -> dict[str, Any] | None:
    query = select(*verdict_columns(scope), verdicts.c.payload).where(verdicts.c.id == verdict_id,
                                                                      scope.site_in(verdicts.c.site))
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return {**row, "payload": without_identity(row["payload"])}


def flagged_since(
    engine: Engine, since: datetime, scope: Scope, limit: int = 200, after_id: str = ""
) -> Sequence[Any]:
    """Flagged verdicts stored from `since` on (after `after_id` at that very time), oldest first:
    what the live feed sends. (received_at, id) is the page key: a whole batch shares one time."""
    at = utc(since)
    later = or_(verdicts.c.received_at > at, and_(verdicts.c.received_at == at, verdicts.c.id > after_id))
    query = (
        select(*verdict_columns(scope))
        .where(verdicts.c.flagged.is_(True), later, scope.site_in(verdicts.c.site))
        .order_by(verdicts.c.received_at, verdicts.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def ledger(
    engine: Engine, site: str, day: date, zone: tzinfo, scope: Scope, *, limit: int | None = None, offset: int = 0
) -> Sequence[Any]:
    """A checkpoint's entry-exit ledger for one local day (卡口出入登记台账), in time order."""
    start, end = day_bounds(day, zone)
    query = (
        select(*verdict_columns(scope))
        .where(verdicts.c.site == site, verdicts.c.device_time >= start, verdicts.c.device_time < end,
               scope.site_in(verdicts.c.site))
        .order_by(verdicts.c.device_time)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


# figures


def _daily_where(first: date, last: date, scope: Scope, site: str | None) -> list[ColumnElement[bool]]:
    where = [daily_figures.c.day >= first, daily_figures.c.day <= last, scope.site_in(daily_figures.c.site)]
    return where if site is None else [*where, daily_figures.c.site == site]


def daily(
    engine: Engine, first: date, last: date, scope: Scope, site: str | None = None, *, limit: int | None = None,
    offset: int = 0,
) -> Sequence[Any]:
    """Per checkpoint and day, by day and checkpoint (a province has thousands of checkpoints: page it)."""
    query = (select(daily_figures).where(*_daily_where(first, last, scope, site))
             .order_by(daily_figures.c.day, daily_figures.c.site).limit(limit).offset(offset))
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def daily_totals(engine: Engine, first: date, last: date, scope: Scope, site: str | None = None) -> Sequence[Any]:
    """Per day, summed over the checkpoints (of `site` only, when given)."""
    query = (select(daily_figures.c.day, *[func.sum(daily_figures.c[name]).label(name) for name in FIGURES])
             .where(*_daily_where(first, last, scope, site))
             .group_by(daily_figures.c.day).order_by(daily_figures.c.day))
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def sites(engine: Engine, scope: Scope) -> list[str]:
    with engine.connect() as conn:
        known = set(conn.scalars(select(devices.c.site).where(scope.site_in(devices.c.site)).distinct()))
        known |= set(conn.scalars(select(device_lives.c.site).where(scope.site_in(device_lives.c.site)).distinct()))
        known |= set(conn.scalars(select(sites_table.c.site).where(scope.site_in(sites_table.c.site))))
    return sorted(known)


def totals(engine: Engine, scope: Scope) -> dict[str, int]:
    """Stored verdicts, open cases, dead letters: cheap counts for the page header. Within a scope,
    the dead letters are the rejections of its own boxes (a message central could not read at all
    belongs to no checkpoint: the whole deployment's count)."""
    with engine.connect() as conn:
        stored = conn.scalar(select(func.coalesce(func.sum(device_lives.c.stored), 0))
                             .where(scope.site_in(device_lives.c.site))) or 0
        open_cases = conn.scalar(select(func.count()).select_from(cases)
                                 .where(cases.c.closed_at.is_(None), scope.case_in())) or 0
        if scope.whole:
            dead = conn.scalar(select(func.count()).select_from(dead_letters)) or 0
            dead += conn.scalar(select(func.coalesce(func.sum(rejections.c.count - 1), 0))) or 0  # repeats counted
        else:
            dead = conn.scalar(select(func.coalesce(func.sum(rejections.c.count), 0))
                               .where(_own_device(scope, rejections.c.device))) or 0
    return {"stored": int(stored), "open_cases": int(open_cases), "dead_letters": int(dead)}


def _own_device(scope: Scope, column: ColumnElement[str]) -> ColumnElement[bool]:
    """The filter for a row of a box that stands at one of the scope's checkpoints."""
    if scope.whole:
        return column.is_not(None)
    return column.in_(select(devices.c.device).where(scope.site_in(devices.c.site)).scalar_subquery())


def rejections_by_device(engine: Engine, scope: Scope) -> dict[str, list[Any]]:
    """What central rejected from each registered box, per reason, most recent first."""
    query = (select(rejections).where(_own_device(scope, rejections.c.device))
             .order_by(rejections.c.device, rejections.c.last_at.desc()))
    found: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            found.setdefault(row["device"], []).append(row)
    return found


# devices


def fleet(
    engine: Engine, offline_after: timedelta, scope: Scope, clock_skew: timedelta = timedelta(minutes=2),
    only: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Every registered box (or those named in `only`) with its state, last contact, sequence gaps,
    lost outboxes, clock and outbox depth. `missing`: verdicts of its current life(s) central has not
    got yet (on their way, or lost); `lost`: what earlier lives (outboxes that were lost) produced and
    never delivered."""
    query = (
        select(
            devices.c.device, devices.c.site, devices.c.kind, devices.c.revoked,
            device_status.c.state, device_status.c.epoch, device_status.c.boot, device_status.c.last_seen,
            device_status.c.software, device_status.c.policy_version, device_status.c.policy_rejected,
            device_status.c.health, device_status.c.metrics, device_status.c.clock_offset_s,
            device_status.c.conflict, device_status.c.software_update,
        )
        .select_from(devices.outerjoin(device_status, device_status.c.device == devices.c.device))
        .where(scope.site_in(devices.c.site))
        .order_by(devices.c.site, devices.c.device)
    )
    own = select(device_lives).where(_own_device(scope, device_lives.c.device))
    if only is not None:
        query = query.where(devices.c.device.in_(list(only)))
        own = own.where(device_lives.c.device.in_(list(only)))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        lives: dict[str, list[Any]] = {}
        for life in conn.execute(own.order_by(device_lives.c.first_seen)).mappings():
            lives.setdefault(life["device"], []).append(life)
    at = now()
    out = []
    for r in rows:
        mine = lives.get(r["device"], [])
        live = [life for life in mine if life["ended_at"] is None]
        verdict_times = [aware(life["last_verdict_at"]) for life in mine if life["last_verdict_at"] is not None]
        seen = [aware(r["last_seen"])] if r["last_seen"] is not None else []
        last = max(seen + verdict_times) if seen or verdict_times else None
        fresh = last is not None and at - last <= offline_after
        metrics = r["metrics"] or {}
        offset = r["clock_offset_s"]
        out.append({
            **r,
            "last_contact": last,
            "last_verdict_at": max(verdict_times) if verdict_times else None,
            "online": bool(fresh and r["state"] != "offline" and not r["revoked"]),
            "max_seq": max((life["max_seq"] for life in live), default=0),
            "stored": sum(life["stored"] for life in mine),
            "missing": sum(life["max_seq"] - life["stored"] for life in live),
            "lost": [  # a refused twin's undelivered verdicts are not lost: they wait in its outbox
                {"epoch": life["epoch"], "count": max(life["produced"], life["max_seq"]) - life["stored"],
                 "ended_at": life["ended_at"]}
                for life in mine
                if life["ended_at"] is not None and not life["refused"]
                and max(life["produced"], life["max_seq"]) > life["stored"]
            ],
            "clock_off": offset is not None and abs(offset) > clock_skew.total_seconds(),
            "outbox_depth": metrics.get("outbox_depth"),
            "outbox_capacity": metrics.get("outbox_capacity"),
        })
    return out


def fleet_summary(
    engine: Engine, offline_after: timedelta, scope: Scope, clock_skew: timedelta = timedelta(minutes=2)
) -> Sequence[Any]:
    """Every box of the scope with only what `fleet_page` filters, counts and orders by (what
    `has_problem` reads), worked out by the database as `fleet` works it out: at 10,000 boxes the
    devices page reads these, then `fleet(only=...)` for the page's own boxes."""
    ended = device_lives.c.ended_at.is_not(None)
    undelivered = and_(ended, device_lives.c.refused.is_(False),
                       larger(device_lives.c.produced, device_lives.c.max_seq) > device_lives.c.stored)
    lives = (
        select(
            device_lives.c.device,
            func.max(device_lives.c.last_verdict_at).label("last_verdict_at"),
            func.sum(when((ended, 0), else_=device_lives.c.max_seq - device_lives.c.stored)).label("missing"),
            func.max(when((undelivered, 1), else_=0)).label("lost"),
        )
        .where(_own_device(scope, device_lives.c.device))
        .group_by(device_lives.c.device)
        .subquery()
    )
    since = now() - offline_after
    fresh = or_(device_status.c.last_seen >= since, lives.c.last_verdict_at >= since)
    online = and_(fresh, func.coalesce(device_status.c.state, "") != "offline", devices.c.revoked.is_(False))
    query = (
        select(devices.c.device, devices.c.site, devices.c.revoked, device_status.c.software,
               when((online, True), else_=False).label("online"),
               func.coalesce(lives.c.missing, 0).label("missing"), func.coalesce(lives.c.lost, 0).label("lost"),
               device_status.c.conflict, device_status.c.policy_rejected,
               when((func.abs(device_status.c.clock_offset_s) > clock_skew.total_seconds(), True), else_=False)
               .label("clock_off"))
        .select_from(devices.outerjoin(device_status, device_status.c.device == devices.c.device)
                     .outerjoin(lives, lives.c.device == devices.c.device))
        .where(scope.site_in(devices.c.site))
    )
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


DeviceFilter = Literal["all", "problems", "online", "offline", "revoked"]


def has_problem(box: Mapping[str, Any]) -> bool:
    """What the office should look at first: a box away, missing or lost verdicts, a twin, a wrong
    clock, a refused policy (a revoked box is no longer a problem, only a record)."""
    if box["revoked"]:
        return False
    return bool(not box["online"] or box["missing"] > 0 or box["lost"] or box["conflict"] or box["clock_off"]
                or box["policy_rejected"])


def fleet_page(
    fleet_rows: Sequence[Mapping[str, Any]], *, state: DeviceFilter = "all", site: str | None = None,
    software: str | None = None, offset: int = 0, limit: int = 100,
) -> tuple[list[Mapping[str, Any]], int, dict[str, int]]:
    """One page of `fleet`'s (or `fleet_summary`'s) boxes, problems first, then by site and name; with
    the number that match and how many there are of each kind (for the filter's labels)."""
    counts = {
        "all": len(fleet_rows),
        "problems": sum(map(has_problem, fleet_rows)),
        "online": sum(1 for b in fleet_rows if b["online"]),
        "offline": sum(1 for b in fleet_rows if not b["online"] and not b["revoked"]),
        "revoked": sum(1 for b in fleet_rows if b["revoked"]),
    }
    wanted = {
        "all": lambda b: True,
        "problems": has_problem,
        "online": lambda b: b["online"],
        "offline": lambda b: not b["online"] and not b["revoked"],
        "revoked": lambda b: b["revoked"],
    }[state]
    rows = [
        b for b in fleet_rows
        if wanted(b) and (site is None or b["site"] == site) and (software is None or b["software"] == software)
    ]
    rows.sort(key=lambda b: (not has_problem(b), b["site"], b["device"]))
    return rows[offset:offset + limit], len(rows), counts


def fleet_listing(
    engine: Engine, offline_after: timedelta, scope: Scope, clock_skew: timedelta, *, state: DeviceFilter = "all",
    site: str | None = None, software: str | None = None, offset: int = 0, limit: int = 100,
) -> tuple[list[dict[str, Any]], int, dict[str, int], list[str]]:
    """What the devices page and /api/devices show: `fleet_page` of the scope's boxes, the page's boxes
    in full (`fleet`), and the checkpoints that have boxes (for the filter)."""
    summary = fleet_summary(engine, offline_after, scope, clock_skew)
    chosen, matching, counts = fleet_page(summary, state=state, site=site, software=software, offset=offset,
                                          limit=limit)
    full = {b["device"]: b for b in fleet(engine, offline_after, scope, clock_skew, [b["device"] for b in chosen])}
    return [full[b["device"]] for b in chosen], matching, counts, sorted({b["site"] for b in summary})


def gaps(
    engine: Engine, device: str, scope: Scope, limit: int = 100, *, ended: bool = False
) -> list[tuple[int, int]]:
    """Missing sequence ranges [first, last] of a box's current lives (`ended`: of its lost ones,
    up to the last sequence number each reported producing)."""
    return gaps_of(engine, [device], scope, limit, ended=ended).get(device, [])


def gaps_of(
    engine: Engine, boxes: Collection[str], scope: Scope, limit: int = 100, *, ended: bool = False
) -> dict[str, list[tuple[int, int]]]:
    """`gaps` of each of `boxes` (a page of the devices page), in two statements whatever their number.

    The counters say whether anything is missing at all; only then are a life's verdicts walked.
    """
    if not boxes:
        return {}
    with engine.connect() as conn:
        lives = conn.execute(
            select(device_lives.c.device, device_lives.c.epoch, device_lives.c.max_seq, device_lives.c.stored,
                   device_lives.c.produced)
            .where(device_lives.c.device.in_(list(boxes)), device_lives.c.refused.is_(False),
                   _own_device(scope, device_lives.c.device),
                   device_lives.c.ended_at.is_not(None) if ended else device_lives.c.ended_at.is_(None))
            .order_by(device_lives.c.device, device_lives.c.first_seen)
        ).all()
        short = [life for life in lives if (max(life.max_seq, life.produced) if ended else life.max_seq) > life.stored]
        found: dict[tuple[str, str], list[tuple[int, int]]] = {}
        if short:
            ordered = select(
                verdicts.c.device, verdicts.c.epoch, verdicts.c.seq.label("seq"),
                func.lag(verdicts.c.seq, 1, 0).over(partition_by=(verdicts.c.device, verdicts.c.epoch),
                                                    order_by=verdicts.c.seq).label("prev"),
            ).where(tuple_(verdicts.c.device, verdicts.c.epoch).in_([(life.device, life.epoch) for life in short]))
            walked = ordered.subquery()
            query = (
                select(walked.c.device, walked.c.epoch, (walked.c.prev + 1).label("first"),
                       (walked.c.seq - 1).label("last"))
                .where(walked.c.seq - walked.c.prev > 1)
                .order_by(walked.c.device, walked.c.epoch, literal_column("first"))
            )
            for box, epoch, first, last in conn.execute(query):
                found.setdefault((box, epoch), []).append((int(first), int(last)))
    out: dict[str, list[tuple[int, int]]] = {}
    for life in short:  # in each box's order of lives, as first seen
        mine = out.setdefault(life.device, [])
        mine += found.get((life.device, life.epoch), [])[:limit]
        if ended and life.produced > life.max_seq:
            mine.append((life.max_seq + 1, life.produced))
    return {box: ranges[:limit] for box, ranges in out.items()}


def collector_replicas(engine: Engine, scope: Scope) -> Sequence[Any]:
    """Central's own replicas: the whole deployment's, so shown to its root only."""
    if not scope.whole:
        return []
    with engine.connect() as conn:
        return conn.execute(select(collectors).order_by(collectors.c.client_id)).mappings().all()


# cases


def list_cases(
    engine: Engine, scope: Scope, status: str | None = None, limit: int = 200, offset: int = 0
) -> Sequence[Any]:
    query = (select(*case_columns(scope)).where(scope.case_in())
             .order_by(cases.c.opened_at.desc(), cases.c.id.desc()).limit(limit).offset(offset))
    if status == "open":
        query = query.where(cases.c.closed_at.is_(None))
    elif status and status != "all":
        query = query.where(cases.c.status == status)
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def case(engine: Engine, case_id: int, scope: Scope) -> dict[str, Any] | None:
    """A case of the reader's, its history and its verdicts; of the passages through other offices'
    checkpoints, only that they joined the case (no site, device or verdict)."""
    with engine.connect() as conn:
        row = conn.execute(select(*case_columns(scope), (cases.c.identity.is_not(None)).label("has_identity"))
                           .where(cases.c.id == case_id, scope.case_in())).mappings().first()
        if row is None:
            return None
        events = conn.execute(
            select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)
        ).mappings().all()
        linked = conn.execute(
            select(*verdict_columns(scope)).where(verdicts.c.case_id == case_id, scope.site_in(verdicts.c.site))
            .order_by(verdicts.c.device_time)
        ).mappings().all()
        own = set(sites(engine, scope)) if not scope.whole else set()
    return {**row, "events": [_event_seen(dict(e), scope, own) for e in events],
            "verdicts_list": [dict(v) for v in linked]}


_PASSAGE = ("verdict", "site", "device", "device_time", "decision")


def _event_seen(event: dict[str, Any], scope: Scope, own: set[str]) -> dict[str, Any]:
    """A case event as the reader may see it: a passage elsewhere keeps only its reasons."""
    site = event["detail"].get("site") if isinstance(event["detail"], dict) else None
    if scope.whole or site is None or site in own:
        return event
    return {**event, "detail": {k: v for k, v in event["detail"].items() if k not in _PASSAGE}}


def cases_between(engine: Engine, first: datetime, end: datetime, scope: Scope) -> Sequence[Any]:
    """Cases opened in [first, end) or still open: the export."""
    query = (
        select(*case_columns(scope, "pseudonym"))
        .where(or_(and_(cases.c.opened_at >= utc(first), cases.c.opened_at < utc(end)), cases.c.closed_at.is_(None)),
               scope.case_in())
        .order_by(cases.c.opened_at)
    )
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()
