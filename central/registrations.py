"""Pre-registration (报备): travellers who told their destination in advance that they are coming.

An office imports the list, as a file (CSV or XLSX: ID number, name, plate, origin, destination
region code, expected day) or through the API. Every line is checked (central.sheets); one bad
line and nothing is imported. A good line is keyed at once with the deployment's pseudonym key —
the HMAC a box computes from the card — and central keeps only the pseudonym, the masked number,
the plate, origin, destination and day: neither the ID number nor the name. Then every registration
that still counts is pushed to the boxes, signed and retained like the watch-list, so that the
gate can tell a registered out-of-province arrival from one who must register on the spot (or be
turned back, where the policy says so).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text

from central.config import RegistrationSettings
from central.regions import ROOT, Scope
from central.schema import regions, registrations
from central.sheets import Column, LineError, column, id_number
from central.sql import insert_for
from contract.idnumber import mask, pseudonym
from contract.messages import RegistrationsPush

COLUMNS: list[Column] = [
    column("id_number", "身份证号", "身份证号码", "证件号码", "idnumber", "id"),
    column("name", "姓名"),
    column("plate", "车牌", "车牌号", "车牌号码", required=False),
    column("origin", "始发地", "出发地", "来源地", "始发地代码", "出发地代码", required=False),
    column("destination", "目的地", "目的地代码", "目的地区划代码", "目的地社区"),
    column("expected", "预计到达日期", "到达日期", "预计到达", "expected_date", "date"),
]
_PLACE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")
_ORIGIN = re.compile(r"^\d{6}$")
_DAY = re.compile(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})\D?$")  # 2026-12-01, 2026/12/1, 20261201, 2026年12月1日
_LOCK = 0x7265_6773  # "regs": the PostgreSQL advisory lock that makes two imports take turns


@dataclass(frozen=True)
class Row:
    """One checked line, already pseudonymous."""

    pseudonym: str
    id_masked: str
    plate: str | None
    origin: str | None
    destination: str
    expected: date


@dataclass(frozen=True)
class Rules:
    """What a line is checked against: the key, the day, the window, and the places known."""

    key: bytes
    today: date
    window: RegistrationSettings
    places: Mapping[str, str] | None = None  # code -> name; None: no region tree loaded, any code goes


def parse_line(cells: Mapping[str, str], rules: Rules) -> Row:
    """One line of the file (or one entry of the API) checked; LineError says what is wrong."""
    number = id_number(cells)
    name = cells.get("name", "")
    if not name or len(name) > 60:
        raise LineError("姓名须为 1 到 60 个字 / a name of 1 to 60 characters is needed")
    destination = cells.get("destination", "")
    if not _PLACE.match(destination):
        raise LineError(f"目的地 {destination!r} 须为 6、9 或 12 位区划代码 / "
                        f"destination {destination!r}: a region code of 6, 9 or 12 digits")
    if rules.places is not None and destination not in rules.places:
        raise LineError(f"目的地 {destination} 不在本辖区 / "
                        f"destination {destination}: not a place in the region tree (of your area)")
    origin = cells.get("origin", "") or None
    if origin is not None and not _ORIGIN.match(origin):
        raise LineError(f"始发地 {origin!r} 须为 6 位区划代码 / origin {origin!r}: a 6-digit region code (GB/T 2260)")
    plate = "".join(cells.get("plate", "").split()).upper() or None
    if plate is not None and (len(plate) > 16 or not plate.isprintable()):
        raise LineError("车牌最多 16 个字符 / a plate has at most 16 characters")
    expected = _day(cells.get("expected", ""))
    if expected < rules.today - timedelta(days=rules.window.days_after):
        raise LineError(f"预计到达日期 {expected} 已过期 / "
                        f"expected on {expected}: too long ago, the registration would no longer count")
    if expected > rules.today + timedelta(days=366):
        raise LineError(f"预计到达日期 {expected} 超过一年 / expected on {expected}: more than a year ahead")
    return Row(pseudonym(rules.key, number), mask(number), plate, origin, destination, expected)


def _day(cell: str) -> date:
    found = _DAY.match(cell.strip())
    try:
        if found is None:
            raise ValueError
        return date(*(int(g) for g in found.groups()))
    except ValueError:
        raise LineError(f"预计到达日期 {cell!r} 无效 / expected day {cell!r}: a date such as 2026-12-01") from None


def row_key(row: Row) -> str:
    """Two lines for one person in one import are a mistake to report, not to guess at."""
    return row.pseudonym


def save(conn: Connection, rows: list[Row], batch: str, username: str, at: datetime) -> tuple[int, int]:
    """Store the rows, a person's newer registration replacing the older; (added, replaced).

    On PostgreSQL two imports at once take turns (an advisory lock held to the commit), so the push
    each builds holds the other's rows if it committed first; SQLite has one writer at a time anyway.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    known: set[str] = set()
    people = [r.pseudonym for r in rows]
    for start in range(0, len(people), 5000):
        chunk = people[start:start + 5000]
        known |= set(conn.scalars(select(registrations.c.pseudonym).where(registrations.c.pseudonym.in_(chunk))))
    insert = insert_for(conn)(registrations)
    upsert = insert.on_conflict_do_update(
        index_elements=["pseudonym"],
        set_={c: insert.excluded[c] for c in ("id_masked", "plate", "origin", "destination", "expected",
                                             "imported_at", "batch", "username")},
    )
    values = [
        {"pseudonym": r.pseudonym, "id_masked": r.id_masked, "plate": r.plate, "origin": r.origin,
         "destination": r.destination, "expected": r.expected, "imported_at": at, "batch": batch,
         "username": username}
        for r in rows
    ]
    for start in range(0, len(values), 5000):
        conn.execute(upsert, values[start:start + 5000])
    return len(rows) - len(known & set(people)), len(known & set(people))


def places(conn: Connection, scope: Scope) -> dict[str, str] | None:
    """Where a user may register travellers to: the nodes of their subtree (code -> name). None in a
    deployment without a tree (the root alone), where any well-formed code goes."""
    if conn.scalar(select(func.count()).select_from(regions).where(regions.c.code != ROOT)) == 0:
        return None
    return {c: n for c, n in conn.execute(select(regions.c.code, regions.c.name)
                                          .where(scope.region_in(regions.c.code))).all()}


def push_message(conn: Connection, version: str, at: datetime, today: date, window: RegistrationSettings
                 ) -> tuple[RegistrationsPush, int]:
    """Every registration that still counts (not past its last day), with its place's name, for the boxes;
    and how many people that is."""
    since = today - timedelta(days=window.days_after)
    found = conn.execute(select(registrations.c.pseudonym, registrations.c.destination, registrations.c.expected)
                         .where(registrations.c.expected >= since)).all()
    arrivals: dict[str, dict[date, list[str]]] = {}
    for person, place, day in found:
        arrivals.setdefault(place, {}).setdefault(day, []).append(person)
    names = {c: n[:64] for c, n in conn.execute(
        select(regions.c.code, regions.c.name)
        .where(regions.c.code.in_(select(registrations.c.destination).where(registrations.c.expected >= since)))
    ).all()}
    message = RegistrationsPush(version=version, issued_at=at, days_before=window.days_before,
                                days_after=window.days_after, arrivals=arrivals, places=names)
    return message, len(found)


def listing(conn: Connection, scope: Scope, since: date, limit: int = 200) -> list[dict[str, Any]]:
    """The registrations still counting whose destination is in the scope, by day (masked), with the
    destination's name (and who imported them, when they stand in the scope)."""
    columns = [c if c.name != "username" else scope.writer(c) for c in registrations.c]
    query = (select(*columns, regions.c.name.label("destination_name"))
             .outerjoin(regions, regions.c.code == registrations.c.destination)
             .where(registrations.c.expected >= since, scope.region_in(registrations.c.destination))
             .order_by(registrations.c.expected, registrations.c.destination).limit(limit))
    return [dict(r) for r in conn.execute(query).mappings()]
