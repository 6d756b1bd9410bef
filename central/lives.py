"""Which of a box's reports (status, metrics) to believe: a pure decision, no I/O, no clock.

A box's *life* is named by the random epoch it keeps with its outbox; within a life its reports
are ordered by its own counters (boot, connection, order: contract.messages.BoxReport), never by
its wall clock, which may be hours off. So a report is applied when it ranks above what is stored,
and a death (the will) is simply the last word of the connection it was set on.

A report from a life not seen before starts a new life: the box lost its outbox (or is new), and
the old life ends, keeping its counters so that what it never delivered shows as lost. A report
from an ended life is stale (a late will, a redelivery) unless that life comes online again on a
*newer* connection than central last saw from it: then two boxes are running with one identity
(one bundle installed twice). The life seen first is kept; the second is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Rank = tuple[int, int, int]  # (boot, connection, order)


class Judgement(StrEnum):
    APPLY = "apply"  # a newer report of the current life
    STALE = "stale"  # older than what is stored, or from an ended or refused life: ignore
    NEW_LIFE = "new_life"  # the first report of a life not seen before: it becomes current
    TWIN = "twin"  # an ended life came online again: two boxes share this identity


@dataclass(frozen=True)
class Life:
    epoch: str  # "" for a box from before lives were kept
    rank: Rank  # of the newest report applied from it
    first_seen: float  # central's clock, seconds (only compared between lives of one box)
    ended: bool = False  # a newer life took over
    refused: bool = False


@dataclass(frozen=True)
class Report:
    epoch: str
    rank: Rank
    online: bool  # a birth or metrics, not a death


def judge(current: Life | None, known: Life | None, report: Report) -> Judgement:
    """`current`: the box's current life; `known`: what is stored of the report's life, if anything."""
    if current is None:
        return Judgement.NEW_LIFE
    if report.epoch == current.epoch:
        return Judgement.APPLY if report.rank > current.rank else Judgement.STALE
    if known is None or not (known.ended or known.refused):
        return Judgement.NEW_LIFE  # never seen, or seen only through verdicts that came first
    if known.refused or not report.online or report.rank[:2] <= known.rank[:2]:
        return Judgement.STALE
    return Judgement.TWIN


def refused_of(a: Life, b: Life) -> Life:
    """Of two lives sharing one identity, the one to refuse: the one central saw second."""
    return b if (b.first_seen, b.epoch) > (a.first_seen, a.epoch) else a
