"""Follow-up obligations in the database: the thin shell around central.obligation_state.

Theory of operation. Ingest calls `file_verdicts` in the transaction that stores the batch, after
the cases are filed: each new verdict's follow-ups with a deadline in the policy become obligations
on its case, and a verdict at a community box closes the pending transfers and registrations it
proves arrived. The verdict insert counts each verdict once (whichever replica, however often it is
delivered), and two unique indexes make an obligation itself impossible to double: one per verdict
and follow-up, one pending per case and follow-up (a second checkpoint on the same trip does not
owe the test twice). Every change of state is a conditional UPDATE from the state the machine saw,
so of two replicas (or two operators) only one moves an obligation, and only that one writes its
history, audit entry and alert, in the same transaction.

The scheduler (`mark_overdue`, `run`) lets each replica look every `scan_s` for open obligations
past their deadline: it needs nothing but the table, so a restarted central catches up on what
went overdue while it was down.

Which office owes what comes from the region tree (central.regions): the node a checkpoint stands
at, and the nearest node of the traveller's declared destination code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, bindparam, select, text
from sqlalchemy.exc import SQLAlchemyError

from central import audit
from central.auth import User
from central.obligation_state import (
    PENDING,
    Action,
    Alert,
    Audit,
    Evidence,
    HandOff,
    History,
    Obligation,
    Place,
    Proof,
    State,
    Step,
    Tick,
    Waive,
    arrives,
    prescribe,
    step,
)
from central.regions import ROOT, RegionError, Scope, scope_of
from central.schema import OPEN_OBLIGATION, PENDING_OBLIGATION, alerts, case_events, cases, obligations, regions, sites
from central.sql import aware, insert_for, now, storage_error
from common.logs import Trouble
from contract.messages import CheckpointKind, FollowUp

log = logging.getLogger(__name__)
IS_PENDING = PENDING_OBLIGATION  # as the partial indexes say it, literally: SQLite uses them only then
SCAN_CHUNK = 1000
# built once: a scan runs them every few seconds on every replica
_DUE = (select(obligations).where(OPEN_OBLIGATION, obligations.c.deadline <= bindparam("at"))
        .order_by(obligations.c.deadline).limit(SCAN_CHUNK))
_OVERDUE = (obligations.update()
            .where(obligations.c.id.in_(bindparam("ids", expanding=True)), obligations.c.state == State.OPEN.value)
            .values(state=State.OVERDUE.value, overdue_at=bindparam("at"), updated_at=bindparam("at"))
            .returning(obligations.c.id))
# one obligation moved from the state (and office) it was read in; one statement for every change
_MOVED = ("updated_at", "node", "destination", "state", "late", "closed_at", "evidence", "proof", "overdue_at")
_MOVE = (obligations.update()
         .where(obligations.c.id == bindparam("oid"), obligations.c.state == bindparam("before"),
                obligations.c.node == bindparam("was"))
         .values({name: bindparam(f"to_{name}", type_=obligations.c[name].type) for name in _MOVED}))
_EVENT = case_events.insert()
_ALERT = alerts.insert()
Row = Mapping[Any, Any]  # a row as read (RowMapping) or built (dict)


@dataclass(frozen=True)
class Policy:
    """What central holds offices to: hours per follow-up, and the webhooks told of overdue ones."""

    deadlines: Mapping[FollowUp, float] = field(default_factory=dict)
    alert_urls: Sequence[str] = ()

    @property
    def owed(self) -> frozenset[FollowUp]:
        return frozenset(self.deadlines)


class Refused(ValueError):
    """Staff asked for what cannot be done (the message says why, Chinese first)."""


class NotOwed(Refused):
    """No such obligation in the user's area (as if it did not exist)."""


# what the machine sees of a row, and back


def machine(row: Row) -> Obligation:
    return Obligation(FollowUp(row["kind"]), row["node"], row["destination"], aware(row["deadline"]),
                      State(row["state"]), bool(row["late"]))


def _columns(ob: Obligation) -> dict[str, Any]:
    return dict(node=ob.node, destination=ob.destination, state=ob.state.value, late=ob.late)


# opening and closing at ingest


def passed_at(row: Row) -> datetime:
    """When the traveller passed: the box's clock if it was synchronised, else central's arrival."""
    return row["device_time"] if row["clock_synced"] else row["received_at"]


def destination_code(row: Row) -> str | None:
    """The declared destination's place code: from the vehicle's registration at the gate, else from
    the traveller's pre-registration (报备)."""
    inputs = row["payload"].get("inputs", {})
    code = (inputs.get("travel") or {}).get("destination_code") or (inputs.get("registration") or {}).get("destination")
    return code if isinstance(code, str) else None


@dataclass
class _Held:
    """A pending obligation of a person in the batch, as the machine moves it: one stored already
    (`id`), or one the batch opens (`source`, its verdict)."""

    ob: Obligation
    id: int = 0
    row: Row = field(default_factory=dict)
    source: Row | None = None
    steps: list[tuple[State, Step, dict[str, Any]]] = field(default_factory=list)

    def prove(self, event: Evidence, place: Place) -> bool:
        """Apply the arrival `event` if `place` is where this obligation sends the traveller."""
        if not arrives(self.ob, place):
            return False
        result = step(self.ob, event)
        self.steps.append((self.ob.state, result, {"proof": event.proof.value, "verdict": event.ref}))
        self.ob = result.obligation
        return True


def file_verdicts(conn: Connection, rows: Iterable[Row], case_ids: Mapping[str, int],
                  policy: Policy) -> None:
    """Close the pending obligations these new verdicts prove arrived; open what they prescribe."""
    owing = {r["id"]: r for r in rows if r["id"] in case_ids and policy.owed.intersection(r["follow_up"])}
    arriving = {r["id"]: r for r in rows if r["pseudonym"] and r["kind"] == CheckpointKind.COMMUNITY}
    if not owing and not arriving:
        return
    at = now()
    involved = sorted({**owing, **arriving}.values(), key=lambda r: (r["pseudonym"] or "", passed_at(r)))
    places = _places(conn, involved)
    held = _pending_of(conn, {r["pseudonym"] for r in arriving.values()})
    opened: list[_Held] = []
    for row in involved:
        place = places[row["id"]]
        mine = held.setdefault(row["pseudonym"] or f"verdict:{row['id']}", [])
        proof = Evidence(Proof.ARRIVAL, row["id"], at)
        closing = [h.ob.kind for h in mine if h.prove(proof, place)] if row["id"] in arriving else []
        if row["id"] in owing:
            prescribed = [FollowUp(f) for f in row["follow_up"]]
            new = [_Held(ob, source=row) for ob in prescribe(prescribed, passed_at(row), policy.deadlines, place,
                                                             closing)]
            mine += new
            opened += new
    _insert(conn, opened, case_ids, at, policy)
    for h in (h for people in held.values() for h in people if h.id):
        for before, result, evidence in h.steps:
            _write(conn, h.id, h.row, before, result, at, "central", "", evidence, policy)


def _insert(conn: Connection, opened: list[_Held], case_ids: Mapping[str, int], at: datetime, policy: Policy) -> None:
    """Store the obligations the batch opened (some already proven done by a later verdict of it)."""
    if not opened:
        return
    values = []
    for h in opened:
        assert h.source is not None
        evidence = h.steps[-1][2] if h.steps else None
        values.append(dict(
            case_id=case_ids[h.source["id"]], verdict_id=h.source["id"], pseudonym=h.source["pseudonym"],
            kind=h.ob.kind.value, site=h.source["site"], opened_at=passed_at(h.source), deadline=h.ob.deadline,
            updated_at=at, closed_at=at if evidence else None, proof=evidence["proof"] if evidence else None,
            evidence={**evidence, "by": "central"} if evidence else None, **_columns(h.ob),
        ))
    stmt = insert_for(conn)(obligations).on_conflict_do_nothing().returning(obligations.c.id, obligations.c.verdict_id,
                                                                          obligations.c.kind)
    stored = {(r.verdict_id, r.kind): r.id for r in conn.execute(stmt, values)}
    events = []
    for h, v in zip(opened, values, strict=True):
        ob_id = stored.get((v["verdict_id"], v["kind"]))
        if ob_id is None:  # this person owes it already (another checkpoint, another replica)
            continue
        detail = {"obligation": ob_id, "kind": v["kind"], "node": v["node"], "deadline": h.ob.deadline.isoformat()}
        events.append(dict(case_id=v["case_id"], at=at, actor="central", action="owed", detail=detail))
        events += [dict(case_id=v["case_id"], at=at, actor="central", action=a.action,
                        detail={"obligation": ob_id, **a.detail})
                   for _, result, _ in h.steps for a in result.actions if isinstance(a, History)]
        log.info("obligation opened", extra={"obligation": ob_id, "case": v["case_id"], "kind": v["kind"],
                                             "node": v["node"], "state": v["state"]})
    if events:
        conn.execute(case_events.insert(), events)


def _pending_of(conn: Connection, people: set[str | None]) -> dict[str, list[_Held]]:
    wanted = sorted(p for p in people if p)
    if not wanted:
        return {}
    found: dict[str, list[_Held]] = {}
    query = select(obligations).where(obligations.c.pseudonym.in_(wanted), IS_PENDING).order_by(obligations.c.id)
    for row in conn.execute(query).mappings():
        found.setdefault(row["pseudonym"], []).append(_Held(machine(row), row["id"], dict(row)))
    return found


def _places(conn: Connection, rows: Sequence[Row]) -> dict[str, Place]:
    """Where each verdict was made and where its traveller is going, in the region tree."""
    paths = {site: path for site, path in conn.execute(
        select(sites.c.site, regions.c.path).join(regions, regions.c.code == sites.c.region)
        .where(sites.c.site.in_(sorted({r["site"] for r in rows}))))}
    codes = {r["id"]: destination_code(r) for r in rows}
    wanted = sorted({p for c in codes.values() if c for p in _prefixes(c)})
    known = set(conn.scalars(select(regions.c.code).where(regions.c.code.in_(wanted)))) if wanted else set()
    places = {}
    for row in rows:
        chain = [c for c in paths.get(row["site"], ROOT + "/").split("/") if c]
        code = codes[row["id"]]
        destination = next((p for p in _prefixes(code) if p in known), None) if code else None
        places[row["id"]] = Place(county=_county(chain), chain=frozenset(chain), kind=CheckpointKind(row["kind"]),
                                  destination=destination)
    return places


def _prefixes(code: str) -> list[str]:
    """A place code and the codes of the places above it, the nearest first."""
    return [code[:n] for n in (12, 9, 6, 4, 2) if n <= len(code)]


def _county(chain: list[str]) -> str:
    """The office above a checkpoint that organises transfers: its county, or the nearest node above
    it when it stands higher (the root in a single-office deployment)."""
    return next((c for c in reversed(chain) if c == ROOT or (c.isdigit() and len(c) <= 6)), ROOT)


# one place for every change of state


def _write(conn: Connection, ob_id: int, row: Row, before: State, result: Step, at: datetime,
           by: str, address: str, evidence: Row, policy: Policy) -> bool:
    """Move the obligation as `result` says if no one moved it since it was read in state `before`;
    then its history, audit entry and alerts. Whether this call moved it."""
    after = result.obligation
    values: dict[str, Any] = {name: row[name] for name in _MOVED}
    values.update(updated_at=at, **_columns(after))
    if after.state in (State.DONE, State.WAIVED) and before in PENDING:
        values.update(closed_at=at, evidence={**evidence, "by": by})
        if after.state is State.DONE:
            values["proof"] = evidence["proof"]
    if after.state is State.OVERDUE and before is State.OPEN:
        values["overdue_at"] = at
    moved = conn.execute(_MOVE, {"oid": ob_id, "before": before.value, "was": row["node"],
                                 **{f"to_{name}": value for name, value in values.items()}}).rowcount
    if moved != 1:
        return False
    _record(conn, [(ob_id, row["case_id"], result.actions)], at, by, address, policy)
    log.info(f"obligation {after.state.value}" if after.state is not before else "obligation handed off",
             extra={"obligation": ob_id, "case": row["case_id"], "kind": after.kind.value, "node": after.node,
                    "by": by})
    return True


def _record(conn: Connection, moved: Sequence[tuple[int, int, Sequence[Action]]], at: datetime, by: str,
            address: str, policy: Policy) -> None:
    """What the machine said to record for each obligation moved (id, case id, actions): the case
    histories and the alerts each in one statement (a scan moves many), the audit entries."""
    events: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    sent = now()  # alerts are due at once, whatever moment `at` a scan was asked about
    for ob_id, case_id, actions in moved:
        for action in actions:
            if isinstance(action, History):
                events.append(dict(case_id=case_id, at=at, actor=by, action=action.action,
                                   detail={"obligation": ob_id, **action.detail}))
            elif isinstance(action, Audit):
                audit.record(conn, by, action.action, f"obligation {ob_id}", action.detail, address)
            elif isinstance(action, Alert):
                queued += [dict(case_id=case_id, obligation_id=ob_id, url=u, created_at=sent, next_at=sent,
                                attempts=0, gave_up=False) for u in policy.alert_urls]
    if events:
        conn.execute(_EVENT, events)
    if queued:
        conn.execute(_ALERT, queued)


@dataclass(frozen=True)
class Sample:
    """A test result as evidence: whose (pseudonym), when sampled, the result, and where it came from."""

    ref: str  # e.g. "results 3 line 17"
    pseudonym: str
    sampled_at: datetime
    result: str


def prove_tests(conn: Connection, samples: Sequence[Sample], scope: Scope, by: str, policy: Policy) -> dict[str, int]:
    """Close with each sample the pending 落地检 of its person that an office in `scope` owes and that
    it was taken for (sampled at or after the passage); the obligation each sample closed, by ref."""
    closed: dict[str, int] = {}
    people = sorted({s.pseudonym for s in samples})
    pending: dict[str, list[Row]] = {}
    for start in range(0, len(people), 5000):
        query = (select(obligations).where(obligations.c.pseudonym.in_(people[start:start + 5000]), IS_PENDING,
                                           obligations.c.kind == FollowUp.TEST_ON_ARRIVAL.value,
                                           scope.region_in(obligations.c.node))
                 .order_by(obligations.c.deadline))
        for found in conn.execute(query).mappings():
            pending.setdefault(found["pseudonym"], []).append(found)
    at = now()
    for sample in sorted(samples, key=lambda s: s.sampled_at):
        row = next((r for r in pending.get(sample.pseudonym, []) if aware(r["opened_at"]) <= sample.sampled_at), None)
        if row is None:
            continue
        result = step(machine(row), Evidence(Proof.TEST_RESULT, sample.ref, at, note=sample.result, by=by))
        evidence = {"proof": Proof.TEST_RESULT.value, "ref": sample.ref, "result": sample.result,
                    "sampled_at": sample.sampled_at.isoformat()}
        if _write(conn, row["id"], row, State(row["state"]), result, at, by, "", evidence, policy):
            closed[sample.ref] = row["id"]
            pending[sample.pseudonym].remove(row)
    return closed


# the scheduler


def mark_overdue(engine: Engine, policy: Policy, at: datetime | None = None) -> int:
    """Mark every open obligation past its deadline overdue, with its history and alert; how many
    this call marked (another replica's share is not counted here). A chunk at a time, each in one
    transaction: one select, one conditional update of them all, one insert each of their histories
    and alerts."""
    at = at or now()
    marked = 0
    while True:
        with engine.begin() as conn:
            due = _DUE.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else _DUE
            rows = conn.execute(due, {"at": at}).mappings().all()  # on PostgreSQL another replica takes the rest
            steps = {row["id"]: (row, step(machine(row), Tick(at))) for row in rows}
            going = sorted(i for i, (_row, result) in steps.items() if result.obligation.state is State.OVERDUE)
            moved = set(conn.scalars(_OVERDUE, {"ids": going, "at": at})) if going else set()
            _record(conn, [(i, steps[i][0]["case_id"], steps[i][1].actions) for i in sorted(moved)], at, "central",
                    "", policy)
        for i in sorted(moved):
            row = steps[i][0]
            log.info("obligation overdue", extra={"obligation": i, "case": row["case_id"], "kind": row["kind"],
                                                  "node": row["node"], "by": "central"})
        marked += len(moved)
        if len(rows) < SCAN_CHUNK:
            return marked


def run(engine: Engine, policy: Policy, scan_s: float, stop: threading.Event, stats_s: float = 3600) -> None:
    """Look for overdue obligations now, then every `scan_s`, until `stop`; on SQLite, renew the
    statistics the worklist's plan needs now and every `stats_s`."""
    trouble = Trouble(log, "overdue scan")
    stats_due = 0.0
    while not stop.is_set():
        try:
            mark_overdue(engine, policy)
            if time.monotonic() >= stats_due:
                refresh_statistics(engine)
                stats_due = time.monotonic() + stats_s
            trouble.ok()
        except SQLAlchemyError as exc:
            trouble.failed(f"storage unavailable: {storage_error(exc)}")
        except Exception as exc:  # noqa: BLE001 - the top of a long-running loop: log and try next time
            trouble.failed(f"{type(exc).__name__}: {exc}"[:300], traceback=True)
        stop.wait(scan_s)


def refresh_statistics(engine: Engine) -> None:
    """SQLite plans by the statistics ANALYZE leaves (PostgreSQL's autovacuum keeps its own): without
    them a county's worklist would fetch every pending obligation of its offices and sort them, with
    them it reads the first page in order of urgency (bench_obligations)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE obligations"))
            conn.execute(text("ANALYZE regions"))


# what staff do


def _owed_by(conn: Connection, scope: Scope, ob_id: int) -> Row:
    """The obligation, if an office in `scope` owes it; Refused as if there were none otherwise."""
    row = conn.execute(select(obligations).where(obligations.c.id == ob_id, scope.region_in(obligations.c.node))
                       ).mappings().first()
    if row is None:
        raise NotOwed(f"本辖区没有跟进事项 {ob_id} / no obligation {ob_id}")
    return row


def act(engine: Engine, ob_id: int, scope: Scope, user: User, event: Evidence | Waive, address: str,
        policy: Policy) -> None:
    """Staff confirm (Evidence, proof staff) or waive an obligation their office owes."""
    with engine.begin() as conn:
        row = _owed_by(conn, scope, ob_id)
        result = step(machine(row), event)
        if result.refused:
            raise Refused(result.refused)
        evidence = ({"proof": Proof.STAFF.value, "note": event.note.strip()} if isinstance(event, Evidence)
                    else {"reason": event.reason.strip()})
        if not _write(conn, ob_id, row, State(row["state"]), result, now(), user.username, address, evidence, policy):
            raise Refused("跟进事项刚被他人改动，请刷新 / the obligation changed meanwhile: look again")


def hand_off(engine: Engine, case_id: int, scope: Scope, user: User, to: str, note: str, address: str,
             policy: Policy) -> int:
    """Hand the case over to another office: every obligation on it that the user's office owes
    goes to `to`. How many went."""
    at = now()
    with engine.begin() as conn:
        try:
            scope_of(conn, to)
        except RegionError:
            raise Refused(f"没有单位 {to!r} / no office {to!r}") from None
        rows = conn.execute(select(obligations).where(obligations.c.case_id == case_id, IS_PENDING,
                                                      scope.region_in(obligations.c.node))
                            .order_by(obligations.c.id)).mappings().all()
        if not rows:
            raise Refused(f"本单位在处置单 {case_id} 上没有待办事项 / your office owes nothing on case {case_id}")
        moved = 0
        for row in rows:
            result = step(machine(row), HandOff(to, user.username, at, note))
            moved += result.changed and _write(conn, row["id"], row, State(row["state"]), result, at, user.username,
                                               address, {}, policy)
        if not moved:
            raise Refused(f"处置单 {case_id} 已由 {to} 负责 / case {case_id} is owed by {to} already")
    return moved


# reading


WORKLIST_COLUMNS = [
    obligations.c.id, obligations.c.case_id, obligations.c.kind, obligations.c.node, obligations.c.state,
    obligations.c.site, obligations.c.opened_at, obligations.c.deadline, obligations.c.overdue_at,
    cases.c.id_masked, cases.c.plate, cases.c.destination, cases.c.severity,
]


def worklist_query(scope: Scope, limit: int, offset: int = 0) -> Select[Any]:
    """What the offices in `scope` owe, the most urgent first: the earliest deadline (so the longest
    overdue) at the top."""
    return (select(*WORKLIST_COLUMNS).join(cases, cases.c.id == obligations.c.case_id)
            .where(IS_PENDING, scope.region_in(obligations.c.node))
            .order_by(obligations.c.deadline, obligations.c.id).limit(limit).offset(offset))


def worklist(engine: Engine, scope: Scope, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(worklist_query(scope, limit, offset)).mappings()]


def of_case(engine: Engine, case_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(obligations).where(obligations.c.case_id == case_id)
                                              .order_by(obligations.c.id)).mappings()]


def overdue_since(engine: Engine, scope: Scope, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Obligations marked overdue at or after `since` (the live feed), oldest first."""
    query = (select(*WORKLIST_COLUMNS).join(cases, cases.c.id == obligations.c.case_id)
             .where(obligations.c.overdue_at >= since, obligations.c.state == State.OVERDUE.value,
                    scope.region_in(obligations.c.node))
             .order_by(obligations.c.overdue_at, obligations.c.id).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
