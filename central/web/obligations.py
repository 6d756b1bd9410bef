"""The office's follow-up obligations over the web: the worklist (the API and the page), what staff do
to an obligation (confirm with a note, waive with a reason, hand the case to another office), and
the test-result import with its progress bar.

Each user sees and acts on what the offices of their subtree owe (the session's Scope); an
obligation outside it answers as if it did not exist. Confirming and handing off need an operator;
waiving needs the role the settings name (`obligations.waive_role`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from central import obligations, results, sheets
from central.auth import Role, Session
from central.i18n import tr
from central.obligation_state import Evidence, Proof, Waive
from central.obligations import NotOwed, Refused
from central.sql import now
from central.text import Line, Paragraph
from central.web.pages import render
from central.web.params import CaseId, Offset, PageNumber, read_upload
from central.web.progress import Progress, answer, streamed
from central.web.security import Forbidden, Operator, Viewer, client_address, lang_of
from central.web.services import Services, Svc

api = APIRouter(prefix="/api", tags=["obligations"])
page = APIRouter(include_in_schema=False)
ObligationId = Annotated[int, Field(ge=1, le=2**31 - 1)]
PAGE_ROWS = 100


class Confirm(BaseModel):
    note: Paragraph = Field(min_length=1, max_length=2000)


class WaiveBody(BaseModel):
    reason: Paragraph = Field(min_length=1, max_length=2000)


class HandOffBody(BaseModel):
    to: Line = Field(min_length=1, max_length=20, description="the receiving office's region code")
    note: Paragraph = Field(default="", max_length=2000)


# what staff do, shared by the API and the pages


def _confirm(svc: Services, ob_id: int, session: Session, note: str, address: str) -> None:
    event = Evidence(Proof.STAFF, session.user.username, now(), note=note, by=session.user.username)
    obligations.act(svc.store.engine, ob_id, session.scope, session.user, event, address, svc.store.obligations)


def _waive(svc: Services, ob_id: int, session: Session, reason: str, address: str) -> None:
    if not session.user.role.allows(Role(svc.settings.obligations.waive_role)):
        raise Forbidden(f"needs the {svc.settings.obligations.waive_role} role")
    event = Waive(reason, session.user.username, now())
    obligations.act(svc.store.engine, ob_id, session.scope, session.user, event, address, svc.store.obligations)


def _hand_off(svc: Services, case_id: int, session: Session, to: str, note: str, address: str) -> int:
    return obligations.hand_off(svc.store.engine, case_id, session.scope, session.user, to.strip(), note, address,
                                svc.store.obligations)


def _refused(exc: Refused) -> HTTPException:
    return HTTPException(404 if isinstance(exc, NotOwed) else 409, str(exc))


# the API


@api.get("/obligations")
def list_obligations(session: Viewer, svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Offset = 0) -> list[dict[str, Any]]:
    """What the offices of your area owe, the most urgent first (the earliest deadline: the longest
    overdue at the top); persons masked."""
    return obligations.worklist(svc.store.engine, session.scope, limit, offset)


@api.post("/obligations/{ob_id}/done", status_code=204)
def confirm_done(ob_id: ObligationId, body: Confirm, request: Request, session: Operator, svc: Svc) -> Response:
    """Staff confirm an obligation of your area done, saying how (audited)."""
    try:
        _confirm(svc, ob_id, session, body.note, client_address(request))
    except Refused as exc:
        raise _refused(exc) from None
    return Response(status_code=204)


@api.post("/obligations/{ob_id}/waive", status_code=204)
def waive(ob_id: ObligationId, body: WaiveBody, request: Request, session: Operator, svc: Svc) -> Response:
    """Waive an obligation of your area with a reason (audited; the role in `obligations.waive_role`)."""
    try:
        _waive(svc, ob_id, session, body.reason, client_address(request))
    except Refused as exc:
        raise _refused(exc) from None
    return Response(status_code=204)


@api.post("/cases/{case_id}/handoff")
def hand_off(case_id: CaseId, body: HandOffBody, request: Request, session: Operator, svc: Svc) -> dict[str, int]:
    """Hand a case over to another office (e.g. the destination county's): what your area owes on it
    goes into that office's worklist (case history and audit log)."""
    try:
        return {"moved": _hand_off(svc, case_id, session, body.to, body.note, client_address(request))}
    except Refused as exc:
        raise HTTPException(409, str(exc)) from None


def _import(svc: Services, data: bytes, filename: str, session: Session, address: str, report: Progress,
            lang: str) -> dict[str, Any]:
    key = svc.settings.pseudonym_key_bytes()
    if key is None:
        raise Refused("中心未配置假名密钥 / central has no pseudonym key (settings: pseudonym_key or "
                      "pseudonym_key_file)")
    report({"reading": len(data)})
    rows = results.check(data, key, svc.settings.zone, lambda done, total: report({"checked": done, "total": total}),
                         lambda done, total: report({"read": done, "total": total}))
    report({"matching": len(rows)})
    outcome = results.summary(results.store(svc.store.engine, data, rows, filename, session.user, session.scope,
                                            svc.store.obligations, address))
    counts = (f"{tr(lang, 'results_imported')} {outcome['lines']} · {tr(lang, 'matched')} {outcome['matched']}"
              f" · {tr(lang, 'unmatched')} {len(outcome['unmatched'])}")
    outcome["message"] = f"{tr(lang, 'already_imported')}: {outcome['already']}" if outcome["already"] else counts
    return outcome


def _refusal(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    if isinstance(exc, sheets.BadLines):
        return 422, exc.answer()
    if isinstance(exc, (sheets.SheetError, Refused)):
        return 422, {"error": str(exc)}
    return None


@api.post("/results/file")
def import_results(
    file: Annotated[UploadFile, File()], request: Request, session: Operator, svc: Svc,
    stream: Annotated[bool, Query(alias="progress",
                                  description="answer with progress lines (NDJSON), the outcome last")] = False,
) -> Any:
    """Test results (CSV or XLSX: 身份证号, 采样时间, 检测结果): each closes the open 落地检 of its person
    in your area; lines that close nothing are listed. Any bad line: nothing imported (422, each line
    and why). The same file again changes nothing."""
    data = read_upload(file)
    name, address, lang = file.filename or "results", client_address(request), lang_of(request)

    def work(report: Progress) -> dict[str, Any]:
        return _import(svc, data, name, session, address, report, lang)

    return streamed(work, _refusal, "results-import") if stream else answer(work, _refusal)


# the pages


@page.get("/worklist")
def worklist_page(request: Request, session: Viewer, svc: Svc, page: PageNumber = 0, error: str = "") -> HTMLResponse:
    rows = obligations.worklist(svc.store.engine, session.scope, PAGE_ROWS + 1, page * PAGE_ROWS)
    return render(request, "worklist.html", session, svc, rows=rows[:PAGE_ROWS], page=page,
                  more=len(rows) > PAGE_ROWS, error=error, has_key=svc.settings.pseudonym_key_bytes() is not None)


def _back(target: str, error: str) -> RedirectResponse:
    """Post/redirect/get: back to the page the form was on, with what went wrong."""
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(target + (f"{joiner}error={quote(error)}" if error else ""), status_code=303)


def _safe(back: str) -> str:
    return back if back.startswith("/") and not back.startswith("//") else "/worklist"


def _form(back: str, act: Callable[[], object]) -> Response:
    """Do what a page's form asked, then back to that page, with why not if it was refused."""
    try:
        act()
    except Refused as exc:
        return _back(back, str(exc))
    return _back(back, "")


@page.post("/obligations/{ob_id}/done")
def confirm_form(ob_id: ObligationId, request: Request, session: Operator, svc: Svc,
                 note: Annotated[Paragraph, Form(max_length=2000)] = "",
                 back: Annotated[str, Form(max_length=200)] = "/worklist") -> Response:
    return _form(_safe(back), lambda: _confirm(svc, ob_id, session, note, client_address(request)))


@page.post("/obligations/{ob_id}/waive")
def waive_form(ob_id: ObligationId, request: Request, session: Operator, svc: Svc,
               reason: Annotated[Paragraph, Form(max_length=2000)] = "",
               back: Annotated[str, Form(max_length=200)] = "/worklist") -> Response:
    return _form(_safe(back), lambda: _waive(svc, ob_id, session, reason, client_address(request)))


@page.post("/cases/{case_id}/handoff")
def hand_off_form(case_id: CaseId, request: Request, session: Operator, svc: Svc,
                  to: Annotated[Line, Form(max_length=20)] = "",
                  note: Annotated[Paragraph, Form(max_length=2000)] = "") -> Response:
    return _form(f"/cases/{case_id}", lambda: _hand_off(svc, case_id, session, to, note, client_address(request)))
