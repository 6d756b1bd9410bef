"""The audit log: who unmasked whom, who pushed what, who changed users. Append-only. A reader
sees the entries of the users who stand in their scope (an entry of a name that is no user's, a
failed login, only the whole deployment's readers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from central.regions import Scope
from central.schema import audit_log
from central.sql import now


def record(conn: Connection, username: str, action: str, target: str, detail: str = "", address: str = "") -> None:
    """Write one entry in the caller's transaction: the action and its record commit together."""
    conn.execute(
        audit_log.insert().values(
            at=now(), username=username, action=action, target=target[:100], detail=detail, address=address[:64]
        )
    )


def recent(engine: Engine, scope: Scope, limit: int = 200, action: str | None = None) -> Sequence[Any]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    query = query.where(scope.user_in(audit_log.c.username))
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()
