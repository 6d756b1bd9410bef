"""The office's dashboard: server-rendered pages, Chinese by default, English by a cookie.

Forms post back here with the session's CSRF token (security.py); workflow actions redirect back
to the page they came from (post/redirect/get), so a reload never repeats an action.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from central import audit, casework, obligations, queries
from central.auth import Busy, Role, Session
from central.i18n import tr
from central.push import PushError
from central.rollouts import NewRollout, RolloutRefused, Target
from central.sql import aware
from central.text import Line, Paragraph
from central.throttle import Throttled
from central.web import api, lists
from central.web.charts import daily_bars
from central.web.params import CaseFilter, CaseId, Day, Days, PageNumber, SiteChoice, SoftwareVersion
from central.web.security import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Admin,
    Operator,
    Viewer,
    client_address,
    csrf_ok,
    lang_of,
    retry_after,
    secure_cookies,
)
from central.web.services import Services, Svc
from common.settings import describe

router = APIRouter(include_in_schema=False)
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


def render(
    request: Request, name: str, session: Session | None, svc: Services, status_code: int = 200, **context: Any
) -> HTMLResponse:
    lang = lang_of(request)
    zone = svc.settings.zone

    def local(at: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return aware(at).astimezone(zone).strftime(fmt) if at else ""

    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"lang": lang, "t": lambda key: tr(lang, key), "session": session, "local": local, "Role": Role,
         "csrf": session.csrf if session else "", **context},
        status_code=status_code,
    )


def safe_next(target: str | None) -> str:
    """Only our own paths: never an open redirect to another site."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


# login


@router.get("/login")
def login_form(request: Request, svc: Svc, next: str = "/", failed: bool = False) -> HTMLResponse:
    return _login_page(request, svc, next, failed=failed)


def _login_page(
    request: Request, svc: Services, next: str, *, failed: bool = False, message: str = "", status: int = 200
) -> HTMLResponse:
    """The login form (with a fresh double-submit token); `message` says why a login was not done now."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, svc, status_code=status, next=safe_next(next), failed=failed,
                      message=message, login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request))
    return response


@router.post("/login")
async def login(
    request: Request,
    svc: Svc,
    username: Annotated[Line, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not await csrf_ok(request, expected):
        return RedirectResponse("/login?failed=1", status_code=303)
    try:
        found = await run_in_threadpool(svc.accounts.login, username, password, client_address(request))
    except Throttled as exc:
        lang, seconds = lang_of(request), retry_after(exc.until)
        until = exc.until.astimezone(svc.settings.zone).strftime("%H:%M:%S")
        words = tr(lang, "throttled").format(until=until, minutes=math.ceil(seconds / 60))
        refused = _login_page(request, svc, next, message=words, status=429)
        refused.headers["Retry-After"] = str(seconds)
        return refused
    except Busy:
        busy = _login_page(request, svc, next, message=tr(lang_of(request), "busy"), status=503)
        busy.headers["Retry-After"] = "5"
        return busy
    if found is None:
        return RedirectResponse(f"/login?failed=1&next={safe_next(next)}", status_code=303)
    token, _session = found
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(request),
                        max_age=int(svc.accounts.lifetime.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, httponly=True, samesite="strict", secure=secure_cookies(request))
    return response


@router.post("/logout")
def logout(request: Request, _: Viewer, svc: Svc) -> Response:
    svc.accounts.logout(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure_cookies(request))
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, "en" if lang == "en" else "zh", samesite="lax", max_age=365 * 24 * 3600,
                        secure=secure_cookies(request))
    return response


# feed


@router.get("/")
def feed_page(request: Request, session: Viewer, svc: Svc) -> HTMLResponse:
    recent = queries.list_verdicts(svc.store.engine, scope=session.scope, flagged=True, limit=30)
    return render(request, "feed.html", session, svc, recent=recent,
                  totals=queries.totals(svc.store.engine, session.scope))


# cases


PAGE_ROWS = 100
LEDGER_ROWS = 300


@router.get("/cases")
def cases_page(
    request: Request, session: Viewer, svc: Svc, status: CaseFilter = "open", page: PageNumber = 0
) -> HTMLResponse:
    rows = queries.list_cases(svc.store.engine, session.scope, status, PAGE_ROWS + 1, page * PAGE_ROWS)
    return render(request, "cases.html", session, svc, cases=rows[:PAGE_ROWS], status=status, page=page,
                  more=len(rows) > PAGE_ROWS, statuses=get_args(CaseFilter))


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId, session: Viewer, svc: Svc, error: str = "") -> HTMLResponse:
    return _case(request, case_id, session, svc, error=error)


def _case(request: Request, case_id: int, session: Session, svc: Services, **extra: Any) -> HTMLResponse:
    found = queries.case(svc.store.engine, case_id, session.scope)
    if found is None:
        return _no_case(request, case_id, session, svc)
    allowed = {a for a, (starts, _to) in casework.ACTIONS.items() if casework.CaseStatus(found["status"]) in starts}
    return render(request, "case.html", session, svc, case=found, allowed=allowed,
                  transfer_kinds=list(casework.TransferKind), owed=obligations.of_case(svc.store.engine, case_id),
                  may_waive=session.user.role.allows(Role(svc.settings.obligations.waive_role)), **extra)


def _no_case(request: Request, case_id: int, session: Session, svc: Services) -> HTMLResponse:
    return render(request, "error.html", session, svc, status_code=404,
                  message=f"{tr(lang_of(request), 'case')} {case_id}: {tr(lang_of(request), 'not_found')}")


@router.post("/cases/{case_id}/action")
def case_action(
    case_id: CaseId,
    session: Operator,
    svc: Svc,
    action: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    transfer_kind: Annotated[str, Form()] = "",
    transfer_to: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
) -> Response:
    error = ""
    try:
        step = casework.CaseAction(action=action, note=note, transfer_kind=transfer_kind or None,  # type: ignore[arg-type]
                                   transfer_to=transfer_to or None, assignee=assignee or None)
        casework.apply(svc.store.engine, case_id, step, session.user, session.scope)
    except ValidationError as exc:
        error = "; ".join(e["msg"] for e in exc.errors())
    except casework.WorkflowError as exc:
        error = str(exc)
    target = f"/cases/{case_id}" + (f"?error={quote(error)}" if error else "")
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_id}/unmask")
def case_unmask(
    request: Request, case_id: CaseId, session: Operator, svc: Svc, why: Annotated[Paragraph, Form(max_length=500)] = ""
) -> HTMLResponse:
    if not why.strip():
        return _case(request, case_id, session, svc, error=tr(lang_of(request), "unmask_why"))
    try:
        identity = casework.unmask(svc.store.engine, case_id, session.user, session.scope, client_address(request),
                                   why.strip())
    except casework.WorkflowError:
        return _no_case(request, case_id, session, svc)
    return _case(request, case_id, session, svc, identity=identity, unmasked=True)


# devices


@router.get("/devices")
def devices_page(
    request: Request, session: Viewer, svc: Svc, state: queries.DeviceFilter = "all", site: SiteChoice = "",
    software: SoftwareVersion = "", page: PageNumber = 0,
) -> HTMLResponse:
    scope = session.scope
    fleet, matching, counts, sites = queries.fleet_listing(
        svc.store.engine, svc.offline_after, scope, svc.clock_skew, state=state, site=site or None,
        software=software or None, offset=page * PAGE_ROWS, limit=PAGE_ROWS)
    gaps = queries.gaps_of(svc.store.engine, [d["device"] for d in fleet if d["missing"] > 0], scope, 5)
    lost = queries.gaps_of(svc.store.engine, [d["device"] for d in fleet if d["lost"]], scope, 5, ended=True)
    return render(request, "devices.html", session, svc, fleet=fleet, gaps=gaps, lost=lost,
                  state=state, site=site, software=software, page=page, matching=matching, counts=counts,
                  more=(page + 1) * PAGE_ROWS < matching, sites=sites,
                  filters=get_args(queries.DeviceFilter),
                  replicas=queries.collector_replicas(svc.store.engine, scope),
                  writer=svc.health() if scope.whole else None,
                  rejections=queries.rejections_by_device(svc.store.engine, scope),
                  rollouts=svc.rollouts.listed(session.scope), releases=svc.releases.listed(),
                  is_admin=session.user.role.allows(Role.ADMIN))


@router.post("/rollouts")
def start_rollout(
    request: Request,
    session: Admin,
    svc: Svc,
    version: Annotated[str, Form(max_length=64)],
    site: Annotated[str, Form(max_length=32)] = "",
    devices: Annotated[str, Form(max_length=100_000)] = "",
    percent: Annotated[int, Form()] = 100,
    canaries: Annotated[int, Form()] = 1,
    wave_size: Annotated[int, Form()] = 10,
    max_failed_percent: Annotated[int, Form()] = 0,
) -> Response:
    """The devices page's rollout form: what POST /api/rollouts takes, as a form (admins only)."""
    try:
        order = NewRollout(version=version, target=Target(
            site=site.strip() or None, devices=[d.strip() for d in devices.split(",") if d.strip()], percent=percent,
        ), canaries=canaries, wave_size=wave_size, max_failed_percent=max_failed_percent)
        svc.rollouts.start(order, session.user.username, session.scope, client_address(request))
    except ValidationError as exc:
        raise HTTPException(422, describe(exc)) from None
    except RolloutRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse("/devices#rollouts", status_code=303)


@router.post("/rollouts/{rollout}/{action}")
def change_rollout(rollout: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
                   action: Literal["pause", "resume", "cancel"], request: Request, session: Admin,
                   svc: Svc) -> Response:
    """The devices page's buttons: the API's change, then back to the page."""
    api.change_rollout(rollout, action, request, session, svc)
    return RedirectResponse("/devices#rollouts", status_code=303)


# figures and the ledger


@router.get("/figures")
def figures_page(
    request: Request, session: Viewer, svc: Svc, days: Days, site: SiteChoice = "", page: PageNumber = 0
) -> HTMLResponse:
    """The chart of the days (summed over the checkpoints), and the figures per checkpoint and day a page
    at a time."""
    engine = svc.store.engine
    rows = queries.daily(engine, days.first, days.last, session.scope, site or None, limit=PAGE_ROWS + 1,
                         offset=page * PAGE_ROWS)
    totals = queries.daily_totals(engine, days.first, days.last, session.scope, site or None)
    return render(request, "figures.html", session, svc, rows=rows[:PAGE_ROWS], first=days.first, last=days.last,
                  site=site, page=page, more=len(rows) > PAGE_ROWS, sites=queries.sites(engine, session.scope),
                  chart=daily_bars(totals, days.first, days.last))


@router.get("/ledger")
def ledger_page(
    request: Request, session: Viewer, svc: Svc, site: SiteChoice = "", day: Day | None = None, page: PageNumber = 0
) -> HTMLResponse:
    """One page of the day's ledger on screen; the exports hold the whole day."""
    day = day or svc.today()
    all_sites = queries.sites(svc.store.engine, session.scope)
    site = site or (all_sites[0] if all_sites else "")
    rows = queries.ledger(svc.store.engine, site, day, svc.settings.zone, session.scope, limit=LEDGER_ROWS + 1,
                          offset=page * LEDGER_ROWS) if site else []
    return render(request, "ledger.html", session, svc, rows=rows[:LEDGER_ROWS], site=site, day=day,
                  sites=all_sites, page=page, more=len(rows) > LEDGER_ROWS)


# lists and policy


def _lists(request: Request, session: Session, svc: Services, **extra: Any) -> HTMLResponse:
    return render(request, "lists.html", session, svc, history=svc.pusher.history(session.scope, limit=30),
                  has_key=svc.settings.pseudonym_key_bytes() is not None, **extra)


@router.get("/lists")
def lists_page(request: Request, session: Viewer, svc: Svc) -> HTMLResponse:
    return _lists(request, session, svc)


@router.post("/lists/watchlist")
def lists_watchlist(
    request: Request, session: Admin, svc: Svc, file: Annotated[UploadFile, File()]
) -> HTMLResponse:
    def act() -> dict[str, Any]:
        version, upload = lists.push_watchlist(svc, file.file.read(), session, client_address(request))
        return dict(done=f"{version}: {len(upload.pseudonyms)}", rejected=upload.rejected)

    return _lists(request, session, svc, **_attempt(act))


@router.post("/lists/risk-areas")
def lists_risk_areas(request: Request, session: Admin, svc: Svc, regions: Annotated[str, Form()] = "") -> HTMLResponse:
    def act() -> dict[str, Any]:
        return dict(done=lists.push_risk_areas(svc, regions.split(), session, client_address(request)))

    return _lists(request, session, svc, **_attempt(act))


@router.post("/lists/policy")
def lists_policy(request: Request, session: Admin, svc: Svc, document: Annotated[str, Form()] = "") -> HTMLResponse:
    def act() -> dict[str, Any]:
        return dict(done=lists.push_policy(svc, lists.parse_policy(document), session, client_address(request)))

    return _lists(request, session, svc, **_attempt(act), policy_text=document)


def _attempt(action: Any) -> dict[str, Any]:
    try:
        return action()  # type: ignore[no-any-return]
    except (lists.Refused, PushError) as exc:
        return {"error": str(exc)}


# audit


@router.get("/audit")
def audit_page(request: Request, session: Admin, svc: Svc) -> HTMLResponse:
    return render(request, "audit.html", session, svc, entries=audit.recent(svc.store.engine, session.scope),
                  users=svc.accounts.list(session.scope))
