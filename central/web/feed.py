"""The live feed of flagged arrivals, as server-sent events, read from the database.

Any replica serves it and sees what every replica stored: each connection polls for flagged
verdicts stored since its cursor. Replicas commit independently, so a row may become visible a
little after a later-stamped one; the poll therefore looks back `LOOKBACK` behind its cursor and
remembers which ids it already sent. The event id is the arrival time, so a browser that
reconnects (EventSource sends Last-Event-ID) resumes where it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from central import obligations, queries
from central.auth import Session
from central.i18n import tr
from central.regions import Scope
from central.sql import aware, now
from central.web.params import Instant
from central.web.security import lang_of, viewer
from central.web.services import Services, services

router = APIRouter()
LOOKBACK = timedelta(seconds=30)
POLL_S = 1.0
PAGE = 500
KEEPALIVE_S = 15.0


def event_of(row: Mapping[str, Any], lang: str, zone: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "site": row["site"],
        "device": row["device"],
        "time": aware(row["device_time"]).astimezone(zone).strftime("%H:%M:%S"),
        "person": row["id_masked"] or "",
        "plate": row["plate"] or "",
        "colour": row["colour"] or "",
        "colour_text": tr(lang, row["colour"]) if row["colour"] else "",
        "body_c": row["body_c"],
        "decision": row["decision"],
        "decision_text": tr(lang, row["decision"]),
        "reasons": "、".join(tr(lang, r) for r in row["reasons"]),
        "case_id": row["case_id"],
    }


def overdue_of(row: Mapping[str, Any], lang: str, zone: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": aware(row["overdue_at"]).astimezone(zone).strftime("%H:%M:%S"),
        "deadline": aware(row["deadline"]).astimezone(zone).strftime("%m-%d %H:%M"),
        "kind": row["kind"],
        "kind_text": tr(lang, row["kind"]),
        "node": row["node"],
        "person": row["id_masked"] or "",
        "plate": row["plate"] or "",
        "case_id": row["case_id"],
        "text": tr(lang, "overdue_alert"),
    }


async def overdue_events(svc: Services, scope: Scope, since: datetime, sent: dict[int, datetime],
                         lang: str) -> AsyncIterator[tuple[datetime, str]]:
    """The obligations of `scope` that went overdue since `since` (less the lookback) and were not sent."""
    rows = await run_in_threadpool(obligations.overdue_since, svc.store.engine, scope, since - LOOKBACK, PAGE)
    for row in rows:
        if row["id"] in sent:
            continue
        at = sent[row["id"]] = aware(row["overdue_at"])
        yield at, json.dumps(overdue_of(row, lang, svc.settings.zone), ensure_ascii=False)
    horizon = since - LOOKBACK * 2
    for key in [k for k, at in sent.items() if at < horizon]:
        del sent[key]


async def flagged_events(
    request: Request, svc: Services, since: datetime, lang: str, scope: Scope, *, poll_s: float = POLL_S
) -> AsyncIterator[str]:
    """Flagged verdicts as `flagged` events, and obligations gone overdue as `overdue` events."""
    sent: dict[str, datetime] = {}
    late: dict[int, datetime] = {}
    cursor = late_cursor = since
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        async for at, data in overdue_events(svc, scope, late_cursor, late, lang):
            late_cursor = max(late_cursor, at)
            yield f"event: overdue\ndata: {data}\n\n"
            quiet = 0.0
        window, after = cursor - LOOKBACK, ""
        while True:  # page through what is new, however much arrived since the last poll
            rows = await run_in_threadpool(queries.flagged_since, svc.store.engine, window, scope, PAGE, after)
            for row in rows:
                at = aware(row["received_at"])
                if row["id"] in sent:
                    continue
                sent[row["id"]] = at
                cursor = max(cursor, at)
                data = json.dumps(event_of(row, lang, svc.settings.zone), ensure_ascii=False)
                yield f"id: {at.isoformat()}\nevent: flagged\ndata: {data}\n\n"
                quiet = 0.0
            if len(rows) < PAGE:
                break
            window, after = aware(rows[-1]["received_at"]), rows[-1]["id"]
        horizon = cursor - LOOKBACK * 2
        for key in [k for k, at in sent.items() if at < horizon]:
            del sent[key]
        if quiet >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(poll_s)
        quiet += poll_s


@router.get("/api/feed", tags=["verdicts"])
async def feed(
    request: Request, session: Annotated[Session, Depends(viewer)], svc: Annotated[Services, Depends(services)],
    since: Instant | None = None,
) -> StreamingResponse:
    """Server-sent events `flagged`, one per flagged verdict of the user's area as it is stored, from
    any replica; from `since` (or the browser's Last-Event-ID) on, else from now. And `overdue`, one
    per obligation of the user's area as it goes overdue."""
    since = _parse_time(request.headers.get("last-event-id")) or since or now()
    return StreamingResponse(
        flagged_events(request, svc, since, lang_of(request), session.scope),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _parse_time(text: str | None) -> datetime | None:
    """A resume point, or None when absent, malformed or out of range (the feed then starts from now)."""
    try:
        return TypeAdapter(Instant).validate_python(text) if text else None
    except ValidationError:
        return None
