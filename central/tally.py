"""Counters kept inside the ingest transaction, from the verdicts stored for the first time.

Per box and life (central.lives): the highest sequence number seen and how many distinct
verdicts are stored, so that `max_seq - stored` is what the box produced and central never got
(a gap). Per checkpoint and
day: the daily figures. Per collector replica: what it committed. All are "add to what is there"
upserts, so two replicas writing at once both count, and rows are touched in key order so that
two transactions never wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert

from central.schema import collectors, daily_figures, device_lives
from central.sql import Many, insert_for, larger, now
from contract.messages import Reason

FIGURES = ("total", "passed", "review", "deny", "fever", "code_yellow", "code_red", "watchlist", "overridden")


_BY_REASON = {"fever": Reason.FEVER_CONFIRMED, "code_yellow": Reason.CODE_YELLOW, "code_red": Reason.CODE_RED,
              "watchlist": Reason.WATCHLIST}
_BY_DECISION = {"pass": "passed", "review": "review", "deny": "deny"}


def add_figures(day: dict[str, int], row: Mapping[str, Any]) -> None:
    """Add what one verdict adds to its checkpoint's day (`day`: FIGURES to counts)."""
    day["total"] += 1
    if (decision := _BY_DECISION.get(row["decision"])) is not None:
        day[decision] += 1
    reasons = row["reasons"]
    for name, reason in _BY_REASON.items():
        if reason in reasons:
            day[name] += 1
    if row["overridden"]:
        day["overridden"] += 1


def local_day(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()


def count_new_verdicts(conn: Connection, rows: Iterable[Mapping[str, Any]], zone: tzinfo) -> None:
    per_life: dict[tuple[str, str], tuple[str, int, int]] = {}
    per_day: dict[tuple[str, date], dict[str, int]] = {}
    for row in rows:
        life = (row["device"], row["epoch"])
        site, top, n = per_life.get(life, (row["site"], 0, 0))
        per_life[life] = (site, max(top, row["seq"]), n + 1)
        key = (row["site"], local_day(row["device_time"], zone))
        if key not in per_day:
            per_day[key] = dict.fromkeys(FIGURES, 0)
        add_figures(per_day[key], row)
    at = now()
    if per_life:
        _LIVES.execute(conn, [dict(device=d, epoch=e, site=site, max_seq=top, stored=n, last_verdict_at=at,
                                   first_seen=at) for (d, e), (site, top, n) in sorted(per_life.items())])
    if per_day:
        _DAYS.execute(conn, [dict(site=site, day=day, **per_day[(site, day)]) for site, day in sorted(per_day)])


def _count_lives(stmt: Any) -> Insert:
    return stmt.on_conflict_do_update(
        index_elements=["device", "epoch"],
        set_=dict(
            site=stmt.excluded.site,
            max_seq=larger(stmt.excluded.max_seq, device_lives.c.max_seq),
            stored=device_lives.c.stored + stmt.excluded.stored,
            last_verdict_at=stmt.excluded.last_verdict_at,
        ),
    )


def _count_days(stmt: Any) -> Insert:
    return stmt.on_conflict_do_update(
        index_elements=["site", "day"], set_={name: daily_figures.c[name] + stmt.excluded[name] for name in FIGURES}
    )


_LIVES = Many(device_lives, ("device", "epoch", "site", "max_seq", "stored", "last_verdict_at", "first_seen"),
              _count_lives)
_DAYS = Many(daily_figures, ("site", "day", *FIGURES), _count_days)


def count_commit(conn: Connection, client_id: str, messages: int) -> None:
    conn.execute(_count_commit(insert_for(conn)), dict(client_id=client_id, handled=messages, last_commit_at=now()))


@cache  # built once per dialect: its construction costs more than its (cached) compilation
def _count_commit(insert: Callable[..., Any]) -> Insert:
    stmt = insert(collectors)
    return stmt.on_conflict_do_update(
        index_elements=["client_id"],
        set_=dict(handled=collectors.c.handled + stmt.excluded.handled, last_commit_at=stmt.excluded.last_commit_at),
    )
