"""Cases from flagged verdicts, inside the ingest transaction.

A verdict opens a case when it carries a yellow or red code, a confirmed fever, a watch-list hit,
or a staff override to deny. A person (by pseudonym) has at most one open case: later verdicts
join it; a partial unique index makes that hold when two replicas see two verdicts of the same
person at the same moment (the second insert finds the first one's row and joins it). A verdict
without a pseudonym (no ID read) opens a case of its own. A new case queues one webhook alert per
configured URL in the same transaction, so no case is announced that was not stored, and none
stored goes unannounced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from central.schema import alerts, case_events, cases, verdicts
from central.sql import aware, insert_for, now
from contract.messages import Decision, Reason

TRIGGERS = frozenset({Reason.CODE_YELLOW, Reason.CODE_RED, Reason.FEVER_CONFIRMED, Reason.WATCHLIST})
_SEVERITY = {Decision.PASS: 0, Decision.REVIEW: 1, Decision.DENY: 2}
OPEN = cases.c.closed_at.is_(None)


def opens_case(row: Mapping[str, Any]) -> bool:
    if TRIGGERS.intersection(row["reasons"]):
        return True
    return bool(row["overridden"]) and row["decision"] == Decision.DENY


def identity_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    person = row["payload"].get("inputs", {}).get("person", {})
    identity = person.get("identity")
    return dict(identity) if isinstance(identity, dict) else None


def file_verdicts(conn: Connection, rows: Iterable[Mapping[str, Any]], alert_urls: Sequence[str]) -> None:
    """Open or join cases for the newly stored verdicts that call for one."""
    flagged = sorted((r for r in rows if opens_case(r)), key=lambda r: (r["pseudonym"] or "", r["device_time"]))
    links = []
    for row in flagged:
        case_id = _join(conn, row) if row["pseudonym"] else None
        if case_id is None:
            case_id = _open(conn, row, alert_urls)
        links.append({"v": row["id"], "c": case_id})
    if links:
        conn.execute(
            verdicts.update().where(verdicts.c.id == bindparam("v")).values(case_id=bindparam("c")),
            links,
        )


def _open(conn: Connection, row: Mapping[str, Any], alert_urls: Sequence[str]) -> int:
    at = now()
    values = dict(
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
    stmt = insert_for(conn)(cases).values(**values)
    if row["pseudonym"]:
        stmt = stmt.on_conflict_do_nothing(index_elements=["pseudonym"], index_where=OPEN)
    case_id = conn.execute(stmt.returning(cases.c.id)).scalar()
    if case_id is None:  # another replica opened this person's case a moment ago
        joined = _join(conn, row)
        assert joined is not None, "the conflicting open case vanished"
        return joined
    _event(conn, case_id, "opened", row)
    if alert_urls:
        conn.execute(
            alerts.insert(),
            [dict(case_id=case_id, url=u, created_at=at, next_at=at, attempts=0, gave_up=False) for u in alert_urls],
        )
    return int(case_id)


def _join(conn: Connection, row: Mapping[str, Any]) -> int | None:
    found = conn.execute(
        select(cases).where(cases.c.pseudonym == row["pseudonym"], OPEN).with_for_update()
    ).mappings().first()
    if found is None:
        return None
    seen = row["device_time"]
    earlier = seen < aware(found["first_seen"])
    later = seen >= aware(found["last_seen"])
    update: dict[str, Any] = dict(
        verdicts=found["verdicts"] + 1,
        updated_at=now(),
        reasons=sorted(set(found["reasons"]) | set(row["reasons"])),
        severity=max(found["severity"], row["decision"], key=lambda d: _SEVERITY[Decision(d)]),
        identity=found["identity"] or identity_of(row),
        id_masked=found["id_masked"] or row["id_masked"],
    )
    if earlier:  # verdicts can arrive out of order (a box that was offline, another replica)
        update.update(first_seen=seen, first_site=row["site"], first_device=row["device"])
    if later:
        update.update(last_seen=seen, last_site=row["site"])
    conn.execute(cases.update().where(cases.c.id == found["id"]).values(**update))
    _event(conn, found["id"], "joined", row)
    return int(found["id"])


def _event(conn: Connection, case_id: int, action: str, row: Mapping[str, Any]) -> None:
    detail = dict(
        verdict=row["id"],
        site=row["site"],
        device=row["device"],
        device_time=_iso(row["device_time"]),
        decision=row["decision"],
        reasons=list(row["reasons"]),
    )
    conn.execute(case_events.insert().values(case_id=case_id, at=now(), actor="central", action=action, detail=detail))


def _iso(at: datetime) -> str:
    return at.isoformat()
