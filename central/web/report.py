"""The daily report of a jurisdiction (central.report) over the web: the API, the XLSX/CSV file and the page.

Each reads only the user's subtree; the file is named after the area's code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from central import report
from central.auth import Session
from central.web.downloads import Format, export
from central.web.pages import render
from central.web.params import Day, PageNumber
from central.web.security import Viewer
from central.web.services import Services, Svc

api = APIRouter(prefix="/api")
page = APIRouter(include_in_schema=False)


def _rows(svc: Services, session: Session, day: Any) -> list[dict[str, Any]]:
    with svc.store.engine.connect() as conn:
        return report.rows(report.daily(conn, session.scope, day, svc.settings.zone))


@api.get("/reports/daily", tags=["figures"])
def daily_report(session: Viewer, svc: Svc, day: Day | None = None) -> dict[str, Any]:
    """The day's report (today by default) for the user's area: one row per office, its figures those of
    its whole subtree, and one per checkpoint under its office (obligation figures null)."""
    day = day or svc.today()
    return {"day": day, "area": {"code": session.scope.code, "name": session.scope.name},
            "rows": _rows(svc, session, day)}


@api.get("/exports/report.{fmt}", tags=["exports"])
def export_report(fmt: Format, request: Request, session: Viewer, svc: Svc, day: Day | None = None) -> Response:
    """The day's report as a file; a large one is built in the background: 202 and its job
    (central.web.downloads)."""
    day = day or svc.today()
    return export(request, session, svc, kind="report", fmt=fmt, day=day, name=f"report-{session.scope.code}-{day}")


REPORT_ROWS = 300  # a province's report has thousands of lines (offices and checkpoints): the page shows them in parts


@page.get("/report")
def report_page(request: Request, session: Viewer, svc: Svc, day: Day | None = None, page: PageNumber = 0
                ) -> HTMLResponse:
    day = day or svc.today()
    rows = _rows(svc, session, day)
    return render(request, "report.html", session, svc, day=day, rows=rows[page * REPORT_ROWS:(page + 1) * REPORT_ROWS],
                  page=page, more=len(rows) > (page + 1) * REPORT_ROWS, reasons=[r.value for r in report.REASONS],
                  owed=report.OWED)
