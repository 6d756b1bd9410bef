"""Small SQL helpers that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection) -> Any:
    """The dialect's INSERT, which has on_conflict_do_nothing / on_conflict_do_update."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def larger(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """max(a, b) for one row: `greatest` on PostgreSQL and two-argument `max` on SQLite differ."""
    return case((a > b, a), else_=b)


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (we store UTC); PostgreSQL aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utc(at: datetime) -> datetime:
    """What we store and compare: UTC. Boxes may send local time with an offset; none means UTC."""
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


class AsReceived(dict[str, Any]):
    """A JSON object that keeps the bytes it was parsed from: stored as those (not re-encoded), so
    the database holds the message exactly as signed, and ingest skips one encoding per row."""

    def __init__(self, obj: dict[str, Any], raw: bytes) -> None:
        super().__init__(obj)
        self.raw = raw


def encode_json(value: Any) -> str:
    """The engines' JSON serialiser (make_engine)."""
    if isinstance(value, AsReceived):
        return value.raw.decode()
    return json.dumps(value, ensure_ascii=False)


def storage_error(exc: BaseException) -> str:
    """A database error in words, on one line: the driver's own message, without the statement and
    its parameters that SQLAlchemy appends (they may hold a verdict)."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return (lines[0].strip() if lines else type(exc).__name__)[:300]
