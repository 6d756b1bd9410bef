"""The retention job: verdicts, closed cases and dead letters are purged after their time.

A verdict older than `verdict_days` goes, unless it belongs to a case that is still open (it then
goes once that case is closed and the verdict is old enough); an imported test result goes after
`verdict_days` too. A closed case goes, with its events, its alerts, its obligations and the
identity it held, `closed_case_days` after it was closed. A box's counted rejections go when none
came for `dead_letter_days`; its metrics history after `metrics_days`, and diagnostics requests
with the boxes' answers (log lines) after `diagnostics_days`. Daily figures, the per-box sequence
counters and the audit log stay. Deletes run in chunks, each its own short
transaction, so ingest is never held up for long; two replicas running it at once do no harm.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, and_, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError

from central.config import RetentionSettings
from central.schema import (
    alerts,
    case_events,
    cases,
    dead_letters,
    device_metrics,
    diagnostics,
    obligations,
    rejections,
    test_results,
    verdicts,
)
from central.sql import now, storage_error
from common.logs import Trouble

log = logging.getLogger(__name__)
CHUNK = 5000


def purge(engine: Engine, settings: RetentionSettings, at: datetime | None = None) -> dict[str, int]:
    at = at or now()
    open_cases = select(cases.c.id).where(cases.c.closed_at.is_(None))
    old_verdicts = select(verdicts.c.id).where(
        verdicts.c.received_at < at - timedelta(days=settings.verdict_days),
        or_(verdicts.c.case_id.is_(None), verdicts.c.case_id.not_in(open_cases)),
    )
    old_cases = select(cases.c.id).where(
        and_(cases.c.closed_at.is_not(None), cases.c.closed_at < at - timedelta(days=settings.closed_case_days))
    )
    old_dead = select(dead_letters.c.id).where(
        dead_letters.c.received_at < at - timedelta(days=settings.dead_letter_days)
    )
    old_metrics = select(device_metrics.c.id).where(
        device_metrics.c.received_at < at - timedelta(days=settings.metrics_days)
    )
    old_diagnostics = select(diagnostics.c.id).where(
        diagnostics.c.requested_at < at - timedelta(days=settings.diagnostics_days)
    )
    old_results = select(test_results.c.id).where(  # keyed people who may never have been flagged: kept as verdicts
        test_results.c.sampled_at < at - timedelta(days=settings.verdict_days)
    )
    done = {
        "verdicts": _chunked(engine, verdicts, verdicts.c.id, old_verdicts),
        "test_results": _chunked(engine, test_results, test_results.c.id, old_results),
        "dead_letters": _chunked(engine, dead_letters, dead_letters.c.id, old_dead),
        "metrics": _chunked(engine, device_metrics, device_metrics.c.id, old_metrics),
        "diagnostics": _chunked(engine, diagnostics, diagnostics.c.id, old_diagnostics),
        "cases": 0,
    }
    with engine.begin() as conn:  # one row per box and reason: a small table
        gone = delete(rejections).where(rejections.c.last_at < at - timedelta(days=settings.dead_letter_days))
        done["rejection_counts"] = conn.execute(gone).rowcount
    while True:
        with engine.begin() as conn:
            ids = list(conn.scalars(old_cases.limit(CHUNK)))
            if not ids:
                break
            conn.execute(delete(case_events).where(case_events.c.case_id.in_(ids)))
            conn.execute(delete(alerts).where(alerts.c.case_id.in_(ids)))
            conn.execute(delete(obligations).where(obligations.c.case_id.in_(ids)))
            conn.execute(delete(cases).where(cases.c.id.in_(ids)))
        done["cases"] += len(ids)
    if any(done.values()):
        log.info("retention purge", extra=done)
    return done


def _chunked(engine: Engine, table: Table, key: ColumnElement[Any], which: Select[Any]) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            ids = list(conn.scalars(which.limit(CHUNK)))
            if not ids:
                return total
            conn.execute(delete(table).where(key.in_(ids)))
        total += len(ids)


def run(engine: Engine, settings: RetentionSettings, stop: threading.Event) -> None:
    """Purge now, then every `interval_s`, until `stop`."""
    trouble = Trouble(log, "retention purge")
    while not stop.is_set():
        try:
            purge(engine, settings)
            trouble.ok()
        except SQLAlchemyError as exc:
            trouble.failed(f"storage unavailable: {storage_error(exc)}")
        except Exception as exc:  # noqa: BLE001 - the top of a long-running loop: log and try next time
            trouble.failed(f"{type(exc).__name__}: {exc}"[:300], traceback=True)
        stop.wait(settings.interval_s)
