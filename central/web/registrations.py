"""Pre-registration (报备) over the web: the API (a JSON list or a file) and the page with its progress bar.

An import with any bad line imports nothing and answers 422 with every bad line and why. The file
upload can answer as a stream of progress lines (`?progress=true`, newline-delimited JSON): the
page shows a progress bar while a 100,000-line file is read and checked, then the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from central import registrations, sheets
from central.auth import Session
from central.push import PushError
from central.web import lists
from central.web.pages import render
from central.web.params import read_upload
from central.web.progress import Progress, answer, streamed
from central.web.security import Admin, Viewer, client_address
from central.web.services import Services, Svc

api = APIRouter(prefix="/api", tags=["registrations"])
page = APIRouter(include_in_schema=False)


class Entry(BaseModel):
    """One traveller, as a line of the file would give it."""

    id_number: str = Field(max_length=36)
    name: str = Field(max_length=120)
    plate: str = Field(default="", max_length=32)
    origin: str = Field(default="", max_length=12)
    destination: str = Field(max_length=12)
    expected: str = Field(max_length=32, description="the day of arrival, e.g. 2026-12-01")


class Batch(BaseModel):
    entries: list[Entry] = Field(min_length=1, max_length=200_000)


def _outcome(svc: Services, lines: Callable[[Progress], list[tuple[int, Mapping[str, str]]]], session: Session,
             address: str, progress: Progress) -> dict[str, Any]:
    """Read, check every line, then store and push; what happened, or lists.Refused / PushError."""
    found = lines(progress)
    rows = lists.check_registrations(svc, found, session,
                                     lambda done, total: progress({"checked": done, "total": total}))
    progress({"pushing": len(rows)})
    return asdict(lists.push_registrations(svc, rows, session, address))


def _refusal(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    if isinstance(exc, sheets.BadLines):
        return 422, exc.answer()
    if isinstance(exc, (lists.Refused, PushError)):
        return (503 if isinstance(exc, PushError) else 422), {"error": str(exc)}
    return None


def _answer(work: Callable[[Progress], dict[str, Any]]) -> dict[str, Any]:
    return answer(work, _refusal)


@api.post("/registrations")
def import_entries(body: Batch, request: Request, session: Admin, svc: Svc) -> dict[str, Any]:
    """Travellers who registered in advance: all imported and pushed to every box, or none (422 with each
    bad entry, numbered from 1)."""
    entries: list[tuple[int, Mapping[str, str]]] = [(n, e.model_dump()) for n, e in enumerate(body.entries, start=1)]
    return _answer(lambda progress: _outcome(svc, lambda _p: entries, session, client_address(request), progress))


@api.post("/registrations/file")
def import_file(
    file: Annotated[UploadFile, File()], request: Request, session: Admin, svc: Svc,
    stream: Annotated[bool, Query(alias="progress",
                                  description="answer with progress lines (NDJSON), the outcome last")] = False,
) -> Any:
    """A CSV or XLSX file with the columns 身份证号, 姓名, 车牌, 始发地, 目的地 (region code), 预计到达日期."""
    data = read_upload(file)

    def read(report: Progress) -> list[tuple[int, Mapping[str, str]]]:
        report({"reading": len(data)})
        return lists.read_registrations(data, lambda done, total: report({"read": done, "total": total}))

    def work(report: Progress) -> dict[str, Any]:
        return _outcome(svc, read, session, client_address(request), report)

    return streamed(work, _refusal, "registrations-import") if stream else _answer(work)


@api.get("/registrations")
def list_registrations(session: Viewer, svc: Svc, limit: Annotated[int, Query(ge=1, le=10_000)] = 200
                       ) -> list[dict[str, Any]]:
    """The registrations that still count (persons masked), by expected day."""
    since = svc.today() - timedelta(days=svc.settings.registrations.days_after)
    with svc.store.engine.connect() as conn:
        return registrations.listing(conn, session.scope, since, limit)


@page.get("/registrations")
def registrations_page(request: Request, session: Viewer, svc: Svc) -> HTMLResponse:
    since = svc.today() - timedelta(days=svc.settings.registrations.days_after)
    with svc.store.engine.connect() as conn:
        rows = registrations.listing(conn, session.scope, since)
    return render(request, "registrations.html", session, svc, rows=rows,
                  has_key=svc.settings.pseudonym_key_bytes() is not None)
