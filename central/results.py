"""Test results (核酸检测结果) as evidence: a file from the testing side closes the 落地检 owed.

The office imports a CSV or XLSX file (ID number, sample time, result) from the testing system.
Every line is checked (central.sheets): a bad ID check character, a time that is no time, a result
that is neither 阴性 nor 阳性, one sample twice — each line gets its own error, and a file with any
bad line imports nothing. A good line is keyed at once with the deployment's pseudonym key, the
HMAC a box computes from the card, so the ID number is never stored, flagged or not: only the
pseudonym and the masked number.

The whole file goes in one transaction: the file itself (by its SHA-256: the same file again is a
no-op that says when it was imported), every line as a `test_results` row (a sample already
imported from another file counts once), and each sample closing the pending 落地检 of its person
that the importer's area owes. Lines that close nothing are kept and reported, never dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, bindparam, select

from central import audit, obligations, sheets
from central.auth import Role, User
from central.obligations import Policy, Sample
from central.regions import Scope, scope_of
from central.schema import result_imports, test_results, users
from central.sheets import Column, LineError, column, id_number
from central.sql import aware, insert_for, now
from contract.idnumber import mask, pseudonym

COLUMNS: list[Column] = [
    column("id_number", "身份证号", "身份证号码", "证件号码", "idnumber", "id"),
    column("sampled_at", "采样时间", "采样日期时间", "sample_time", "sampled"),
    column("result", "检测结果", "结果", "核酸结果"),
]
RESULTS = {"阴性": "negative", "negative": "negative", "阳性": "positive", "positive": "positive"}
_TIME = re.compile(  # 2026-11-30 08:15, 2026/11/30 8:15:07, 2026-11-30T08:15:00.5, 2026年11月30日 8时15分
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T](\d{1,2})[:时](\d{2})(?:[:分](\d{2})(?:\.\d+)?秒?)?分?$")


@dataclass(frozen=True)
class Result:
    """One checked line, already pseudonymous."""

    line: int  # in the file as the office's program numbers it
    pseudonym: str
    id_masked: str
    sampled_at: datetime
    result: str


@dataclass
class Imported:
    """What an import did: lines stored, 落地检 closed, and each line that closed nothing (with why)."""

    import_id: int
    lines: int
    matched: int
    unmatched: list[tuple[int, str, str]] = field(default_factory=list)  # (line, masked ID, why)
    already: str = ""  # the same file was imported before: when and by whom (nothing was done)


def parse_line(cells: Mapping[str, str], key: bytes, zone: tzinfo) -> Result:
    number = id_number(cells)
    found = _TIME.match(cells.get("sampled_at", "").strip())
    try:
        if found is None:
            raise ValueError
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in found.groups())
        sampled = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        raise LineError(f"采样时间 {cells.get('sampled_at', '')!r} 无效，如 2026-11-30 08:15 / "
                        f"sample time {cells.get('sampled_at', '')!r}: a time such as 2026-11-30 08:15") from None
    result = RESULTS.get(cells.get("result", "").strip().lower())
    if result is None:
        raise LineError(f"检测结果 {cells.get('result', '')!r} 须为阴性或阳性 / "
                        f"result {cells.get('result', '')!r}: 阴性 or 阳性 (negative or positive)")
    return Result(0, pseudonym(key, number), mask(number), sampled, result)


def check(data: bytes, key: bytes, zone: tzinfo, progress: Callable[[int, int], None] = lambda *_: None,
          reading: Callable[[int, int], None] = lambda *_: None) -> list[Result]:
    """Every line of the file checked; sheets.SheetError for a file that is no table of results, BadLines
    when any line is wrong (nothing is then imported). `reading` and `progress` hear (lines, of total)
    as the file is read, then checked."""
    sheet = sheets.read(data, COLUMNS, reading)
    checked = sheets.check(sheet, lambda cells: parse_line(cells, key, zone), lambda r: (r.pseudonym, r.sampled_at),
                           progress)
    if checked.errors:
        raise sheets.BadLines(checked.errors)
    if not checked.rows:
        raise sheets.SheetError("文件中没有检测结果 / no results in the file")
    return [replace(r, line=line) for (line, _cells), r in zip(sheet.lines, checked.rows, strict=True)]


def store(engine: Engine, data: bytes, rows: Sequence[Result], filename: str, user: User, scope: Scope,
          policy: Policy, address: str = "") -> Imported:
    """Import the checked lines of one file, all in one transaction."""
    digest = hashlib.sha256(data).hexdigest()
    at = now()
    with engine.begin() as conn:
        seen = conn.execute(insert_for(conn)(result_imports).values(
            sha256=digest, filename=filename[:200], at=at, username=user.username, lines=len(rows), matched=0,
        ).on_conflict_do_nothing().returning(result_imports.c.id)).scalar()
        if seen is None:
            before = conn.execute(select(result_imports).where(result_imports.c.sha256 == digest)).mappings().one()
            when = aware(before["at"]).isoformat(timespec="seconds")
            return Imported(before["id"], before["lines"], before["matched"],
                            already=f"{before['filename']}, {when}, {before['username']}")
        import_id = int(seen)
        values = [dict(import_id=import_id, line=r.line, pseudonym=r.pseudonym, id_masked=r.id_masked,
                       sampled_at=r.sampled_at, result=r.result) for r in rows]
        insert = insert_for(conn)(test_results).on_conflict_do_nothing().returning(test_results.c.line,
                                                                                  test_results.c.id)
        stored: dict[int, int] = {}
        for start in range(0, len(values), 5000):
            stored.update({line: rid for line, rid in conn.execute(insert, values[start:start + 5000])})
        samples = [Sample(f"results {import_id} line {r.line}", r.pseudonym, r.sampled_at, r.result)
                   for r in rows if r.line in stored]
        closed = obligations.prove_tests(conn, samples, scope, user.username, policy)
        links = [{"rid": stored[int(ref.rsplit(" ", 1)[1])], "ob": ob} for ref, ob in closed.items()]
        if links:
            conn.execute(test_results.update().where(test_results.c.id == bindparam("rid"))
                         .values(obligation_id=bindparam("ob")), links)
        conn.execute(result_imports.update().where(result_imports.c.id == import_id).values(matched=len(closed)))
        outcome = Imported(import_id, len(rows), len(closed), [
            (r.line, r.id_masked, "已在之前的文件中导入 / already imported from an earlier file" if r.line not in stored
             else "本辖区内没有此人在采样前产生的待办落地检 / no open 落地检 of this person in your area taken "
                  "before this sample")
            for r in rows if f"results {import_id} line {r.line}" not in closed
        ])
        audit.record(conn, user.username, "import_results", filename[:100],
                     f"{len(rows)} lines, {len(closed)} matched, {len(outcome.unmatched)} unmatched", address)
    return outcome


def importer(engine: Engine, username: str) -> tuple[User, Scope]:
    """The office user a command-line import acts as (their area and name in the audit log); an operator
    or above, not disabled. ValueError says why not."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        if row is None or row["disabled"]:
            raise ValueError(f"no active user {username!r}")
        user = User(id=row["id"], username=username, role=Role(row["role"]), region=row["region"])
        if not user.role.allows(Role.OPERATOR):
            raise ValueError(f"{username} is a {user.role.value}: importing results needs an operator")
        return user, scope_of(conn, user.region)


def summary(outcome: Imported) -> dict[str, Any]:
    """The outcome as the API and the page's progress stream give it."""
    return {"import": outcome.import_id, "lines": outcome.lines, "matched": outcome.matched,
            "unmatched": [{"line": n, "person": who, "why": why} for n, who, why in outcome.unmatched],
            "already": outcome.already}
