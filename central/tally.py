"""Counters kept inside the ingest transaction, from the verdicts stored for the first time.

Per box and life (central.lives): the highest sequence number seen and how many distinct
verdicts are stored, so that `max_seq - stored` is what the box produced and central never got
(a gap). Per checkpoint and
day: the daily figures. Per collector replica: what it committed. All are "add to what is there"
upserts, so two replicas writing at once both count, and rows are touched in key order so that
two transactions never wait on each other in a circle.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection

from central.schema import collectors, daily_figures, device_lives
from central.sql import insert_for, larger, now
from contract.messages import Reason

FIGURES = ("total", "passed", "review", "deny", "fever", "code_yellow", "code_red", "watchlist", "overridden")


def figures_of(row: Mapping[str, Any]) -> Counter[str]:
    """What one verdict adds to its checkpoint's day."""
    reasons = set(row["reasons"])
    decision = row["decision"]
    flags = dict(
        total=True,
        passed=decision == "pass",
        review=decision == "review",
        deny=decision == "deny",
        fever=Reason.FEVER_CONFIRMED in reasons,
        code_yellow=Reason.CODE_YELLOW in reasons,
        code_red=Reason.CODE_RED in reasons,
        watchlist=Reason.WATCHLIST in reasons,
        overridden=bool(row["overridden"]),
    )
    return Counter({name: int(flag) for name, flag in flags.items()})


def local_day(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()


def count_new_verdicts(conn: Connection, rows: Iterable[Mapping[str, Any]], zone: tzinfo) -> None:
    per_life: dict[tuple[str, str], tuple[str, int, int]] = {}
    per_day: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    for row in rows:
        life = (row["device"], row["epoch"])
        site, top, n = per_life.get(life, (row["site"], 0, 0))
        per_life[life] = (site, max(top, row["seq"]), n + 1)
        per_day[(row["site"], local_day(row["device_time"], zone))].update(figures_of(row))
    insert = insert_for(conn)
    at = now()
    if per_life:
        stmt = insert(device_lives)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["device", "epoch"],
                set_=dict(
                    site=stmt.excluded.site,
                    max_seq=larger(stmt.excluded.max_seq, device_lives.c.max_seq),
                    stored=device_lives.c.stored + stmt.excluded.stored,
                    last_verdict_at=stmt.excluded.last_verdict_at,
                ),
            ),
            [dict(device=d, epoch=e, site=site, max_seq=top, stored=n, last_verdict_at=at, first_seen=at)
             for (d, e), (site, top, n) in sorted(per_life.items())],
        )
    if per_day:
        stmt = insert(daily_figures)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["site", "day"],
                set_={name: daily_figures.c[name] + stmt.excluded[name] for name in FIGURES},
            ),
            [dict(site=site, day=day, **{name: per_day[(site, day)][name] for name in FIGURES})
             for site, day in sorted(per_day)],
        )


def count_commit(conn: Connection, client_id: str, messages: int) -> None:
    stmt = insert_for(conn)(collectors).values(client_id=client_id, handled=messages, last_commit_at=now())
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["client_id"],
            set_=dict(handled=collectors.c.handled + messages, last_commit_at=stmt.excluded.last_commit_at),
        )
    )
