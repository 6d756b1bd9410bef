"""Cases from flagged verdicts, inside the ingest transaction.

A verdict opens a case when it carries a yellow or red code, a confirmed fever, a watch-list hit,
or a staff override to deny. A person (by pseudonym) has at most one open case: later verdicts
join it; a partial unique index makes that hold when two replicas see two verdicts of the same
person at the same moment (the second insert finds the first one's row and joins it). A verdict
without a pseudonym (no ID read) opens a case of its own. A new case queues one webhook alert per
configured URL in the same transaction, so no case is announced that was not stored, and none
stored goes unannounced.

Theory of operation: a batch is filed with a fixed number of statements, however many verdicts it
flags. The flagged verdicts are grouped by person, and each group is applied in device-time order
as if one verdict at a time: the first opens the person's case unless one is open, the rest join
(`_opened`, `_joined`). One SELECT ... FOR UPDATE, in pseudonym order so that two replicas lock in
the same order, reads the open cases of everyone in the batch; one multi-row INSERT ... ON CONFLICT
DO NOTHING opens the cases of the others, each already holding its whole group; a person whose
insert met a case another replica opened since our look is read again, locked, and joined like the
rest; one UPDATE (executemany) writes the joined cases. Cases without a pseudonym, events, alerts
and the verdicts' case ids are one bulk statement each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, select

from central.schema import alerts, case_events, cases, verdicts
from central.sql import aware, insert_for, now
from contract.messages import Decision, FollowUp, Reason

TRIGGERS = frozenset({Reason.CODE_YELLOW, Reason.CODE_RED, Reason.FEVER_CONFIRMED, Reason.WATCHLIST})
_SEVERITY = {Decision.PASS: 0, Decision.REVIEW: 1, Decision.DENY: 2}
OPEN = cases.c.closed_at.is_(None)
# what joining a verdict may change on a case; the other columns keep what the first verdict set
_JOINED = ("verdicts", "updated_at", "reasons", "severity", "identity", "id_masked",
           "first_seen", "first_site", "first_device", "last_seen", "last_site")

# built once: the statements' construction cost more than their (cached) compilation
_OPEN_CASES = (
    select(cases)
    .where(cases.c.pseudonym.in_(bindparam("people", expanding=True)), OPEN)
    .order_by(cases.c.pseudonym)
    .with_for_update()
)
_OPEN_ANONYMOUS = cases.insert().returning(cases.c.id, sort_by_parameter_order=True)
_JOIN = cases.update().where(cases.c.id == bindparam("case")).values(
    {name: bindparam(f"to_{name}", type_=cases.c[name].type) for name in _JOINED}
)
_EVENT = case_events.insert()
_ALERT = alerts.insert()
_LINK = verdicts.update().where(verdicts.c.id == bindparam("v")).values(case_id=bindparam("c"))

Row = Mapping[str, Any]


def alarming(row: Row) -> bool:
    """A verdict the office must hear of at once (a webhook alert for its case)."""
    if TRIGGERS.intersection(row["reasons"]):
        return True
    return bool(row["overridden"]) and row["decision"] == Decision.DENY


def opens_case(row: Row, owed: frozenset[FollowUp] = frozenset()) -> bool:
    """Alarming, or prescribing a follow-up some office will owe (central.obligations): an
    out-of-province traveller let through still owes the destination a registration."""
    return alarming(row) or bool(owed.intersection(row["follow_up"]))


def _alarmed(case: Row) -> bool:
    """Whether an open case was already announced: one of its verdicts was alarming."""
    return bool(TRIGGERS.intersection(case["reasons"])) or case["severity"] == Decision.DENY


def identity_of(row: Row) -> dict[str, Any] | None:
    person = row["payload"].get("inputs", {}).get("person", {})
    identity = person.get("identity")
    return dict(identity) if isinstance(identity, dict) else None


def file_verdicts(
    conn: Connection, rows: Iterable[Row], alert_urls: Sequence[str], owed: frozenset[FollowUp] = frozenset()
) -> dict[str, int]:
    """Open or join cases for the newly stored verdicts that call for one; each such verdict's case."""
    flagged = sorted((r for r in rows if opens_case(r, owed)), key=lambda r: (r["pseudonym"] or "", r["device_time"]))
    if not flagged:
        return {}
    at = now()
    people: dict[str, list[Row]] = {}
    for row in flagged:
        if row["pseudonym"]:
            people.setdefault(row["pseudonym"], []).append(row)
    found = _open_cases(conn, list(people))
    anonymous = [r for r in flagged if not r["pseudonym"]]
    opened: dict[Any, int] = {}  # opened here: pseudonym, or id() of an anonymous row -> case id
    if anonymous:
        ids = conn.execute(_OPEN_ANONYMOUS, [_opened(r, at) for r in anonymous]).scalars()
        opened.update(zip((id(r) for r in anonymous), ids, strict=True))
    opened.update(_open_people(conn, {p: g for p, g in people.items() if p not in found}, at))
    late = [p for p in people if p not in found and p not in opened]
    if late:  # another replica opened these people's cases after our look: join them
        found.update(_open_cases(conn, late))
        assert all(p in found for p in late), "the conflicting open case vanished"
    alarmed = {c["id"] for c in found.values() if _alarmed(c)}
    if found:
        joined = [_fold(case, people[p], at) for p, case in found.items()]
        conn.execute(_JOIN, [{"case": c["id"], **{f"to_{n}": c[n] for n in _JOINED}} for c in joined])
    return _record(conn, flagged, {p: c["id"] for p, c in found.items()}, opened, alarmed, alert_urls, at)


def _record(
    conn: Connection, flagged: list[Row], found: Mapping[str, int], opened: Mapping[Any, int], alarmed: set[int],
    alert_urls: Sequence[str], at: datetime,
) -> dict[str, int]:
    """Each verdict's case event and case id, in the order applied, and an alert for each case's
    first alarming verdict (a case opened only for what is owed is announced when it becomes one)."""
    events: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    first = None  # the pseudonym of the previous verdict: a group's first verdict opened its case
    for row in flagged:
        person = row["pseudonym"]
        if person in found:
            case_id, action = found[person], "joined"
        else:
            case_id = opened[person or id(row)]
            action = "opened" if not person or person != first else "joined"
        if alarming(row) and case_id not in alarmed:
            alarmed.add(case_id)
            queued += [
                dict(case_id=case_id, url=u, created_at=at, next_at=at, attempts=0, gave_up=False) for u in alert_urls
            ]
        events.append(dict(case_id=case_id, at=at, actor="central", action=action, detail=_detail(row)))
        links.append({"v": row["id"], "c": case_id})
        first = person
    conn.execute(_EVENT, events)
    if queued:
        conn.execute(_ALERT, queued)
    conn.execute(_LINK, links)
    return {link["v"]: link["c"] for link in links}


def _open_cases(conn: Connection, people: list[str]) -> dict[str, dict[str, Any]]:
    """The open cases of these people, locked until the transaction ends."""
    if not people:
        return {}
    found = conn.execute(_OPEN_CASES, {"people": sorted(people)}).mappings()
    return {r["pseudonym"]: {**r, "first_seen": aware(r["first_seen"]), "last_seen": aware(r["last_seen"])}
            for r in found}


def _open_people(conn: Connection, people: Mapping[str, list[Row]], at: datetime) -> dict[str, int]:
    """Open each person's case with their whole group; the ids of those not opened elsewhere first."""
    if not people:
        return {}
    values = [_fold(_opened(g[0], at), g[1:], at) for _, g in sorted(people.items())]
    return {person: case_id for case_id, person in conn.execute(_open_people_statement(insert_for(conn)), values)}


@cache
def _open_people_statement(insert: Callable[..., Any]) -> Insert:
    stmt = insert(cases).on_conflict_do_nothing(index_elements=["pseudonym"], index_where=OPEN)
    return stmt.returning(cases.c.id, cases.c.pseudonym)


def _opened(row: Row, at: datetime) -> dict[str, Any]:
    """A new case of this verdict."""
    return dict(
        pseudonym=row["pseudonym"],
        status="new",
        severity=row["decision"],
        reasons=sorted(set(row["reasons"])),
        opened_at=at,
        updated_at=at,
        first_seen=row["device_time"],
        first_site=row["site"],
        first_device=row["device"],
        last_seen=row["device_time"],
        last_site=row["site"],
        verdicts=1,
        id_masked=row["id_masked"],
        identity=identity_of(row),
        plate=row["plate"],
        origin=row["origin"],
        destination=row["destination"],
    )


def _fold(case: dict[str, Any], rows: Iterable[Row], at: datetime) -> dict[str, Any]:
    for row in rows:
        case = _joined(case, row, at)
    return case


def _joined(case: dict[str, Any], row: Row, at: datetime) -> dict[str, Any]:
    """The case once this verdict has joined it."""
    seen = row["device_time"]
    update: dict[str, Any] = dict(
        verdicts=case["verdicts"] + 1,
        updated_at=at,
        reasons=sorted(set(case["reasons"]) | set(row["reasons"])),
        severity=max(case["severity"], row["decision"], key=lambda d: _SEVERITY[Decision(d)]),
        identity=case["identity"] or identity_of(row),
        id_masked=case["id_masked"] or row["id_masked"],
    )
    if seen < case["first_seen"]:  # verdicts can arrive out of order (a box that was offline, another replica)
        update.update(first_seen=seen, first_site=row["site"], first_device=row["device"])
    if seen >= case["last_seen"]:
        update.update(last_seen=seen, last_site=row["site"])
    return {**case, **update}


def _detail(row: Row) -> dict[str, Any]:
    return dict(
        verdict=row["id"],
        site=row["site"],
        device=row["device"],
        device_time=row["device_time"].isoformat(),
        decision=row["decision"],
        reasons=list(row["reasons"]),
    )
