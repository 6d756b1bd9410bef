"""Small SQL helpers that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson
from psycopg.types.json import Json
from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Insert,
    Table,
    bindparam,
    case,
    column,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import NullType


def insert_for(conn: Connection) -> Any:
    """The dialect's INSERT, which has on_conflict_do_nothing / on_conflict_do_update."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class Many:
    """One INSERT of many rows, with its ON CONFLICT and RETURNING (`finish`), for a table written on the
    ingest path, where a batch brings hundreds of rows.

    On PostgreSQL the rows go as one JSON document, turned into rows by the server
    (json_populate_recordset): orjson writes it in one call, with a verdict's payload embedded as the
    bytes received (AsReceived), and the driver sends it as it is. An executemany would cost the
    driver a statement in its pipeline per row, and per-column arrays a conversion per value
    (bench/README: the collector's CPU per verdict). On SQLite, in-process, executemany costs little.
    The statements are built once per dialect: their construction costs more than their compilation.
    """

    def __init__(self, table: Table, columns: Sequence[str], finish: Callable[[Any], Insert] = lambda s: s) -> None:
        self.table, self.columns, self.finish = table, tuple(columns), finish
        self._built: dict[bool, Insert] = {}

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> CursorResult[Any]:
        if conn.dialect.name != "postgresql":
            return conn.execute(self._statement(False), rows)
        document = Json(rows, dumps=_document)
        return conn.execute(self._statement(True), {"rows": document})

    def _statement(self, postgres: bool) -> Insert:
        if postgres not in self._built:
            if postgres:
                recordset = func.json_populate_recordset(literal_column(f"NULL::{self.table.name}"),
                                                         bindparam("rows", type_=NullType()))
                rows = select(*(column(name) for name in self.columns)).select_from(recordset)  # type: ignore[var-annotated]
                self._built[postgres] = self.finish(postgresql.insert(self.table).from_select(self.columns, rows))
            else:
                self._built[postgres] = self.finish(sqlite.insert(self.table))
        return self._built[postgres]


def _document(rows: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(rows, default=_embed, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


def _embed(value: Any) -> Any:
    """What orjson does not write itself: a payload as the bytes received, an enum as its value."""
    if isinstance(value, AsReceived):
        return orjson.Fragment(value.raw)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


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
