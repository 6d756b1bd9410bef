"""One box's page: its state, its metrics history as small charts, and (for admins) remote
diagnostics: ask the box for its doctor report and its last log lines, and read its answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central import diagnostics, queries
from central.auth import Role
from central.i18n import tr
from central.sql import aware, now
from central.web.charts import history_lines
from central.web.pages import render
from central.web.params import DeviceName, HistoryHours
from central.web.security import Admin, Viewer, client_address, lang_of
from central.web.services import Svc
from contract.messages import LOG_LINES_MAX

router = APIRouter(include_in_schema=False)
WAIT_S = 60  # the page reloads itself this long while the newest request has no answer


@router.get("/devices/{device}")
def device_page(request: Request, device: DeviceName, session: Viewer, svc: Svc, hours: HistoryHours = 24,
                error: str = "") -> HTMLResponse:
    engine = svc.store.engine
    found = queries.fleet(engine, svc.offline_after, session.scope, svc.clock_skew, [device])  # the user's scope only
    box = found[0] if found else None
    if box is None:
        return render(request, "error.html", session, svc, status_code=404,
                      message=f"{tr(lang_of(request), 'device')} {device}: {tr(lang_of(request), 'not_found')}")
    last = now()
    first = last - timedelta(hours=hours)
    asked: list[Any] = []
    waiting = False
    if session.user.role.allows(Role.ADMIN):  # the answers hold the box's log lines: admins only
        asked = list(diagnostics.requests(engine, device))
        newest = asked[0] if asked else None
        waiting = bool(newest and newest["answered_at"] is None
                       and (last - aware(newest["requested_at"])).total_seconds() < WAIT_S)
    return render(request, "device.html", session, svc, box=box, hours=hours, first=first, last=last, error=error,
                  asked=asked, waiting=waiting, most_lines=LOG_LINES_MAX,
                  charts=history_lines(diagnostics.metrics_history(engine, device, first), first, last))


@router.post("/devices/{device}/diagnostics")
def ask_for_diagnostics(request: Request, device: DeviceName, session: Admin, svc: Svc,
                        log_lines: Annotated[int, Form(ge=0, le=LOG_LINES_MAX)] = 100) -> Response:
    """Send the box a signed diagnostics request; the page then waits for the answer."""
    try:
        diagnostics.ask(svc.store.engine, svc.settings.mqtt, svc.settings.downlink_signer, device, log_lines,
                        session.user, session.scope, client_address(request))
    except diagnostics.CannotAsk as exc:
        return RedirectResponse(f"/devices/{device}?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/devices/{device}", status_code=303)
