"""The daily report of a jurisdiction (日报), in the shape offices report upward.

One row per office of the user's subtree (in tree order, each office's figures the sum of
everything below it) and, under each office, one row per checkpoint standing there. Two groups of
figures, which the rows label:

- at the checkpoints (cut at the office's midnight, from the verdicts' device time): passages,
  flagged (review or deny), flagged by reason, and transfers (flagged verdicts that prescribed a
  point-to-point transfer to isolation or to a fever clinic);
- owed by the offices (central.obligations; an office's row counts what its whole subtree owes):
  obligations opened that day, done that day, gone overdue that day (their deadline fell in it and
  nothing closed them in time), and waived that day. A checkpoint owes nothing: its row leaves
  these blank.

Passages and decisions come from the daily figures (counted at ingest, they outlive the verdicts'
retention); the reasons and transfers from that day's flagged verdicts while they are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import Connection, Text, and_, cast, func, or_, select
from sqlalchemy import case as when

from central.exports import Cell, Column
from central.obligation_state import State
from central.queries import day_bounds
from central.regions import ROOT, Scope, tree
from central.schema import daily_figures, obligations, verdicts
from contract.messages import FollowUp, Reason

REASONS = (Reason.CODE_RED, Reason.CODE_YELLOW, Reason.FEVER_CONFIRMED, Reason.WATCHLIST, Reason.RISK_AREA_ORIGIN,
           Reason.OUT_OF_PROVINCE)
"""The reasons a report names one by one; the other reasons of flagged verdicts count as `other`."""
TRANSFERS = {FollowUp.ISOLATION_TRANSFER.value, FollowUp.FEVER_CLINIC.value}
NAMED = (*(r.value for r in REASONS), "other")  # Figures.reasons' order: the named reasons, then all others
OWED = ("opened", "done", "overdue", "waived")


@dataclass
class Figures:
    passages: int = 0
    flagged: int = 0
    # flagged verdicts per reason in NAMED's order (a verdict counts under each of its reasons): a list,
    # not a Counter, for a province's report adds thousands of them up the tree
    reasons: list[int] = field(default_factory=lambda: [0] * len(NAMED))
    transfers: int = 0
    owed: Counter[str] = field(default_factory=Counter)  # opened, done, overdue, waived (an office's only)

    def add(self, other: Figures) -> None:
        self.passages += other.passages
        self.flagged += other.flagged
        self.reasons = [a + b for a, b in zip(self.reasons, other.reasons, strict=True)]
        self.transfers += other.transfers


@dataclass(frozen=True)
class Line:
    """One row of the report: an office (`site` None) or a checkpoint under it."""

    code: str
    name: str
    depth: int
    site: str | None
    figures: Figures

    def as_dict(self) -> dict[str, Any]:
        f = self.figures
        owed = {k: (None if self.site else f.owed[k]) for k in OWED}  # a checkpoint owes nothing
        return {"code": self.code, "name": self.name, "depth": self.depth, "site": self.site,
                "passages": f.passages, "flagged": f.flagged, **dict(zip(NAMED, f.reasons, strict=True)),
                "transfers": f.transfers, **owed}


def daily(conn: Connection, scope: Scope, day: date, zone: tzinfo) -> list[Line]:
    """The report of `day` for the scope's subtree."""
    start, end = day_bounds(day, zone)
    nodes = tree(conn, scope)
    placed = {s: n.code for n in nodes for s in n.sites}
    at_sites = _checkpoints(conn, scope, day, start, end)
    if scope.whole:  # a checkpoint seen in verdicts but never placed stands at the root
        for site in at_sites.keys() - placed.keys():
            placed[site] = ROOT
    owed = _owed(conn, scope, start, end)
    offices = {n.code: Figures() for n in nodes}
    ancestors: dict[str, list[str]] = {}  # a node and the nodes above it, within the scope
    for n in nodes:  # a parent comes before its children
        ancestors[n.code] = [n.code, *ancestors.get(n.parent or "", [])]
    for site, figures in at_sites.items():
        for code in ancestors.get(placed[site], []):
            offices[code].add(figures)
    for node, counts in owed.items():
        for code in ancestors.get(node, []):
            offices[code].owed.update(counts)
    standing: dict[str, list[str]] = {}  # each node's checkpoints (a province has thousands of both)
    for site, code in sorted(placed.items()):
        standing.setdefault(code, []).append(site)
    lines = []
    for n in nodes:
        lines.append(Line(n.code, n.name, n.depth, None, offices[n.code]))
        lines += [Line(n.code, n.name, n.depth + 1, s, at_sites.get(s, Figures())) for s in standing.get(n.code, [])]
    return lines


def _checkpoints(conn: Connection, scope: Scope, day: date, start: Any, end: Any) -> dict[str, Figures]:
    """Each checkpoint's figures of the day."""
    out: dict[str, Figures] = {}
    for site, total, review, deny in conn.execute(
        select(daily_figures.c.site, daily_figures.c.total, daily_figures.c.review, daily_figures.c.deny)
        .where(daily_figures.c.day == day, scope.site_in(daily_figures.c.site))
    ):
        out[site] = Figures(passages=total, flagged=review + deny)
    # counted by the database per checkpoint: a province's day has thousands of flagged verdicts. A
    # reason or follow-up is a quoted code in the stored JSON array, found as such on both databases.
    reasons, follow_up = cast(verdicts.c.reasons, Text), cast(verdicts.c.follow_up, Text)

    def count(matches: Any) -> Any:
        return func.sum(when((matches, 1), else_=0))

    tallies = conn.execute(
        select(verdicts.c.site, func.sum(func.json_array_length(verdicts.c.reasons)),
               count(or_(*(follow_up.like(f'%"{t}"%') for t in TRANSFERS))),
               *[count(reasons.like(f'%"{code}"%')) for code in NAMED[:-1]])
        .where(verdicts.c.flagged.is_(True), verdicts.c.device_time >= start, verdicts.c.device_time < end,
               scope.site_in(verdicts.c.site))
        .group_by(verdicts.c.site)
    )
    for site, said, transfers, *named in tallies:
        figures = out.setdefault(site, Figures())
        figures.reasons = [*named, said - sum(named)]
        figures.transfers = transfers
    return out


def _owed(conn: Connection, scope: Scope, start: Any, end: Any) -> dict[str, Counter[str]]:
    """Per office (the node that owes them), the obligations opened, done, gone overdue and waived in the day."""
    within = scope.region_in(obligations.c.node)

    def between(column: Any) -> Any:
        return and_(column >= start, column < end)

    wheres = {
        "opened": between(obligations.c.opened_at),
        "done": and_(obligations.c.state == State.DONE.value, between(obligations.c.closed_at)),
        "overdue": and_(obligations.c.overdue_at.is_not(None), between(obligations.c.deadline)),
        "waived": and_(obligations.c.state == State.WAIVED.value, between(obligations.c.closed_at)),
    }
    query = (select(obligations.c.node, *[func.sum(when((where, 1), else_=0)).label(what)
                                          for what, where in wheres.items()])
             .where(within, or_(*wheres.values())).group_by(obligations.c.node))  # one pass over the table
    counts: dict[str, Counter[str]] = {}
    for row in conn.execute(query).mappings():
        counts[row["node"]] = Counter({what: int(row[what]) for what in wheres if row[what]})
    return counts


def rows(lines: Iterable[Line]) -> list[dict[str, Any]]:
    return [line.as_dict() for line in lines]


def columns() -> list[Column]:
    """The report as a table (central.exports): an office's name indented by its depth; a checkpoint's
    obligation cells blank."""

    def get(key: str) -> Callable[[Mapping[str, Any]], Cell]:
        return lambda row: "" if row[key] is None else row[key]

    return [
        ("area", lambda r: "\u3000" * r["depth"] + r["name"]),
        ("site", lambda r: r["site"] or ""),
        ("total", get("passages")),
        ("flagged", get("flagged")),
        *[(r.value, get(r.value)) for r in REASONS],
        ("other_reasons", get("other")),
        ("transfers", get("transfers")),
        *[(f"owed_{k}", get(k)) for k in OWED],
    ]
