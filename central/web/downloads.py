"""Export files over HTTP: sent at once when quick, else built in the background (central.export_jobs).

An export's URL (GET /api/exports/cases.xlsx, …) starts its job, or finds the same one running or
fresh, and waits `exports.wait_s` for it: a file built by then is the answer (200), as it always was
for a county's or a checkpoint's; otherwise the answer is 202 with the job (its id, rows written of
the total, where to follow it and where to fetch the file; Location: the progress). A script may say
how long it will wait (RFC 7240 `Prefer: wait=600`: the file in the answer, as before) or that it
will not (`Prefer: respond-async`: always the job, which is what the pages ask for). Asking the same
URL again once the job is done answers the file.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, StreamingResponse

from central import exports
from central.auth import Session
from central.export_jobs import DONE, RUNNING, Job, Spec
from central.web.security import Viewer, lang_of
from central.web.services import Services, Svc

router = APIRouter(prefix="/api")
Format = Literal["csv", "xlsx"]
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f-]{36}$")]
WAIT_MAX_S = 600.0
FOLLOW_EVERY_S = 0.5  # how often the progress stream looks at its job


def send_file(name: str, fmt: Format, headers: list[str], rows: list[list[Any]]) -> Response:
    return _file(name, fmt, exports.to_csv(headers, rows) if fmt == "csv" else exports.to_xlsx(name, headers, rows))


def _file(name: str, fmt: str, body: bytes) -> Response:
    disposition = f'attachment; filename="{name}.{fmt}"'
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition})


def _wait_s(request: Request, default: float) -> float | None:
    """How long the request waits for its file: the client's `Prefer` (RFC 7240), else the setting;
    None: the client wants the job, never the file."""
    prefer = request.headers.get("prefer", "").lower()
    if "respond-async" in prefer:
        return None
    asked = re.search(r"\bwait\s*=\s*(\d+(?:\.\d+)?)", prefer)
    return min(float(asked.group(1)), WAIT_MAX_S) if asked else default


def export(request: Request, session: Session, svc: Services, **spec: Any) -> Response:
    """The file of the export `spec` (central.export_jobs.Spec) in the user's area and language: at once
    if it is ready within the wait, else its job (202)."""
    owner, area = session.user.id, session.scope.code
    job = svc.exports.start(owner, area, Spec(lang=lang_of(request), zone=svc.settings.timezone,
                                              scope=session.scope, **spec))
    wait = _wait_s(request, svc.settings.exports.wait_s)
    if wait is None:
        return _job_answer(job)
    job = svc.exports.wait(job, owner, area, wait)
    if job.state == DONE:
        body = svc.exports.file(job.id, owner, area)
        if body is not None:
            return _file(job.name, job.fmt, body)
    return _job_answer(job)


def _job_answer(job: Job) -> JSONResponse:
    document = job.document()
    if job.state == RUNNING or job.state == DONE:
        return JSONResponse(document, status_code=202, headers={"Location": document["progress"], "Retry-After": "1"})
    return JSONResponse(document, status_code=500)


def _owned(svc: Services, session: Session, job_id: str) -> Job:
    job = svc.exports.get(job_id, session.user.id, session.scope.code)
    if job is None:
        raise HTTPException(404, "no such export")
    return job


@router.get("/exports/jobs/{job_id}", tags=["exports"], response_model=None)
def export_job(job_id: JobId, session: Viewer, svc: Svc, follow: bool = False) -> dict[str, Any] | StreamingResponse:
    """An export's job (yours only): its state (running, done, failed), rows written of the total, and
    where its file is. `follow=true`: a line of JSON each time it moves, until it is done or failed."""
    job = _owned(svc, session, job_id)
    if not follow:
        return job.document()

    def lines() -> Iterator[bytes]:
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + WAIT_MAX_S
        current: Job | None = job
        while current is not None:
            document = current.document()
            if document != seen:
                yield json.dumps(document, ensure_ascii=False).encode() + b"\n"
                seen = document
            if current.state != RUNNING or time.monotonic() > deadline:
                return
            time.sleep(FOLLOW_EVERY_S)
            current = svc.exports.get(job_id, session.user.id, session.scope.code)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/exports/jobs/{job_id}/file", tags=["exports"])
def export_file(job_id: JobId, session: Viewer, svc: Svc) -> Response:
    """The file of your finished export; 409 while it is still being built, 404 for anyone else's."""
    job = _owned(svc, session, job_id)
    body = svc.exports.file(job_id, session.user.id, session.scope.code)
    if body is None:
        raise HTTPException(409, f"the export is {job.state}" + (f": {job.error}" if job.error else ""))
    return _file(job.name, job.fmt, body)
