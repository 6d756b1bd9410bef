"""The JSON API (published at /openapi.json): verdicts, cases and their actions, devices, figures,
pushes, exports, the audit log. Reads need a viewer, case work an operator, pushes and the device
registry an admin."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, File, HTTPException, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from central import audit, casework, diagnostics, exports, queries
from central.auth import Busy
from central.i18n import both
from central.push import PushError
from central.regions import REGION_PATTERN, RegionError
from central.rollout import ACTIONS
from central.rollouts import NewRollout, RolloutRefused
from central.sql import now
from central.store import StillRevoked
from central.text import Line, Paragraph
from central.throttle import Throttled
from central.web import lists
from central.web.downloads import Format, export, send_file
from central.web.params import (
    AuditAction,
    CaseFilter,
    CaseId,
    Day,
    Days,
    DeviceName,
    HistoryHours,
    Instant,
    Offset,
    PushKind,
    SiteChoice,
    SiteName,
    SoftwareVersion,
    VerdictId,
    read_upload,
)
from central.web.security import (
    SESSION_COOKIE,
    Admin,
    Operator,
    Viewer,
    client_address,
    lang_of,
    retry_after,
)
from central.web.services import Services, Svc
from contract.messages import LOG_LINES_MAX, NAME_PATTERN

router = APIRouter(prefix="/api")
T = TypeVar("T")


class Credentials(BaseModel):
    username: Line = Field(max_length=64)
    password: str = Field(max_length=200)


class SessionOut(BaseModel):
    token: str
    csrf: str
    username: str
    role: str


class Unmask(BaseModel):
    why: Paragraph = Field(min_length=1, max_length=500)


class RiskAreas(BaseModel):
    regions: list[Annotated[str, Field(max_length=12)]] = Field(max_length=5000)


class PolicyDocument(BaseModel):
    document: dict[str, Any]


class Device(BaseModel):
    device: str = Field(pattern=NAME_PATTERN)
    site: str = Field(pattern=NAME_PATTERN)
    kind: Literal["traffic", "community"]
    key_hex: str = Field(pattern=r"^[0-9a-f]{64}$")
    region: str | None = Field(default=None, pattern=REGION_PATTERN,
                               description="the node the checkpoint stands at (a new one: yours)")


class DiagnosticsAsk(BaseModel):
    log_lines: int = Field(default=100, ge=0, le=LOG_LINES_MAX)


# sessions


@router.post("/session", tags=["session"], responses={429: {"description": "too many failed logins: wait"}})
def login(credentials: Credentials, request: Request, svc: Svc) -> SessionOut:
    """Log in; use the token as `Authorization: Bearer <token>`. After repeated failures the account
    or the address must wait: 429, with Retry-After (seconds) and the time in words."""
    found = _checking(svc, lambda: svc.accounts.login(credentials.username, credentials.password,
                                                      client_address(request)))
    if found is None:
        raise HTTPException(401, both("bad_login"))
    token, session = found
    return SessionOut(token=token, csrf=session.csrf, username=session.user.username, role=session.user.role)


class NewPassword(BaseModel):
    current: str = Field(max_length=200)
    new: str = Field(min_length=10, max_length=200)


@router.post("/me/password", tags=["session"], status_code=204)
def change_password(body: NewPassword, request: Request, session: Viewer, svc: Svc) -> Response:
    """Change your own password; your other sessions end (this one stays)."""
    name, address = session.user.username, client_address(request)
    if not _checking(svc, lambda: svc.accounts.check_password(name, body.current, address)):
        raise HTTPException(403, both("bad_login"))
    svc.accounts.set_password(name, body.new, keep_token=_token(request))
    with svc.store.engine.begin() as conn:
        audit.record(conn, name, "password_changed", name, "other sessions ended", address)
    return Response(status_code=204)


def _checking(svc: Services, attempt: Callable[[], T]) -> T:
    """A password check, its refusals as HTTP answers: 429 while throttled, 503 while busy."""
    try:
        return attempt()
    except Throttled as exc:
        until = exc.until.astimezone(svc.settings.zone).strftime("%H:%M:%S")
        seconds = retry_after(exc.until)
        raise HTTPException(429, both("throttled", until=until, minutes=math.ceil(seconds / 60)),
                            headers={"Retry-After": str(seconds)}) from None
    except Busy:
        raise HTTPException(503, both("busy"), headers={"Retry-After": "5"}) from None


def _token(request: Request) -> str:
    return request.headers.get("authorization", "")[7:] or request.cookies.get(SESSION_COOKIE, "")


@router.delete("/session", tags=["session"], status_code=204)
def logout(request: Request, session: Viewer, svc: Svc) -> Response:
    svc.accounts.logout(_token(request))
    return Response(status_code=204)


@router.get("/me", tags=["session"])
def me(session: Viewer) -> dict[str, str]:
    return {"username": session.user.username, "role": session.user.role.value}


# verdicts


@router.get("/verdicts", tags=["verdicts"])
def list_verdicts(
    session: Viewer,
    svc: Svc,
    site: SiteName | None = None,
    device: SiteName | None = None,
    flagged: bool | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    rows = queries.list_verdicts(svc.store.engine, scope=session.scope, site=site, device=device, flagged=flagged,
                                 since=since, until=until, limit=limit)
    return [dict(r) for r in rows]


@router.get("/verdicts/{verdict_id}", tags=["verdicts"])
def get_verdict(verdict_id: VerdictId, session: Viewer, svc: Svc) -> dict[str, Any]:
    found = queries.verdict(svc.store.engine, str(verdict_id), session.scope)
    if found is None:
        raise HTTPException(404, "no such verdict")
    return found


# cases


@router.get("/cases", tags=["cases"])
def list_cases(
    session: Viewer, svc: Svc, status: CaseFilter | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    return [dict(r) for r in queries.list_cases(svc.store.engine, session.scope, status, limit, offset)]


@router.get("/cases/{case_id}", tags=["cases"])
def get_case(case_id: CaseId, session: Viewer, svc: Svc) -> dict[str, Any]:
    found = queries.case(svc.store.engine, case_id, session.scope)
    if found is None:
        raise HTTPException(404, "no such case")
    return found


@router.post("/cases/{case_id}/actions", tags=["cases"], status_code=204)
def act_on_case(case_id: CaseId, step: casework.CaseAction, session: Operator, svc: Svc) -> Response:
    """contact | transfer (transfer_kind, transfer_to) | close | assign (assignee) | note (note)."""
    try:
        casework.apply(svc.store.engine, case_id, step, session.user, session.scope)
    except casework.NoCase as exc:
        raise HTTPException(404, str(exc)) from None
    except casework.WorkflowError as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


@router.post("/cases/{case_id}/unmask", tags=["cases"])
def unmask_case(case_id: CaseId, body: Unmask, request: Request, session: Operator, svc: Svc) -> dict[str, Any]:
    """The person's full identity. Written to the audit log with the reason given."""
    try:
        identity = casework.unmask(svc.store.engine, case_id, session.user, session.scope, client_address(request),
                                   body.why)
    except casework.WorkflowError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"identity": identity}


# devices


@router.get("/devices", tags=["devices"])
def list_devices(
    session: Viewer, svc: Svc, response: Response, state: queries.DeviceFilter = "all", site: SiteChoice = "",
    software: SoftwareVersion = "", offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    """Boxes in the reader's jurisdiction, problems first; `X-Total-Count` says how many match."""
    rows, matching, _, _ = queries.fleet_listing(svc.store.engine, svc.offline_after, session.scope, svc.clock_skew,
                                                 state=state, site=site or None, software=software or None,
                                                 offset=offset, limit=limit)
    response.headers["X-Total-Count"] = str(matching)
    return rows


@router.get("/devices/{device}/gaps", tags=["devices"])
def device_gaps(device: DeviceName, session: Viewer, svc: Svc) -> list[tuple[int, int]]:
    """Sequence ranges [first, last] the box produced and central has not stored."""
    return queries.gaps(svc.store.engine, device, session.scope)


@router.post("/devices", tags=["devices"], status_code=204)
def register_device(body: Device, request: Request, session: Admin, svc: Svc) -> Response:
    """Register a box or change its record; a revoked box only with a new key (409 otherwise)."""
    try:
        svc.store.register_device(body.device, body.site, body.kind, body.key_hex, region=body.region,
                                  scope=session.scope)
    except StillRevoked as exc:
        raise HTTPException(409, str(exc)) from None
    except RegionError as exc:
        raise HTTPException(404, str(exc)) from None
    with svc.store.engine.begin() as conn:
        audit.record(conn, session.user.username, "register_device", body.device, body.site, client_address(request))
    return Response(status_code=204)


@router.delete("/devices/{device}", tags=["devices"], status_code=204)
def revoke_device(device: DeviceName, request: Request, session: Admin, svc: Svc) -> Response:
    if not svc.store.revoke_device(device, session.scope):
        raise HTTPException(404, "no such device")
    with svc.store.engine.begin() as conn:
        audit.record(conn, session.user.username, "revoke_device", device, "", client_address(request))
    return Response(status_code=204)


@router.post("/devices/{device}/diagnostics", tags=["devices"], status_code=202)
def ask_for_diagnostics(device: DeviceName, body: DiagnosticsAsk, request: Request, session: Admin, svc: Svc
                        ) -> dict[str, str]:
    """Send the box a signed request for its doctor report and last `log_lines` log lines (audited);
    the answer, when the box sends it, is at GET .../diagnostics/{id}."""
    try:
        request_id = diagnostics.ask(svc.store.engine, svc.settings.mqtt, svc.settings.downlink_signer, device,
                                     body.log_lines, session.user, session.scope, client_address(request))
    except diagnostics.NoSuchBox as exc:
        raise HTTPException(404, str(exc)) from None
    except diagnostics.CannotAsk as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": request_id}


@router.get("/devices/{device}/diagnostics/{request_id}", tags=["devices"])
def diagnostics_answer(device: DeviceName, request_id: VerdictId, session: Admin, svc: Svc) -> dict[str, Any]:
    """A diagnostics request and, once the box answered, its answer (`answer` is null until then)."""
    visible = diagnostics.visible(svc.store.engine, session.scope, device)
    found = diagnostics.request(svc.store.engine, device, str(request_id)) if visible else None
    if found is None:
        raise HTTPException(404, "no such diagnostics request of this box")
    return found


@router.get("/devices/{device}/metrics", tags=["devices"])
def metrics_history(device: DeviceName, session: Viewer, svc: Svc, hours: HistoryHours = 24
                    ) -> list[dict[str, Any]]:
    """The box's metrics messages of the last `hours`, oldest first."""
    if not diagnostics.visible(svc.store.engine, session.scope, device):
        raise HTTPException(404, "no such device")
    since = now() - timedelta(hours=hours)
    return [dict(r) for r in diagnostics.metrics_history(svc.store.engine, device, since)]


@router.get("/collectors", tags=["devices"])
def collector_replicas(session: Viewer, svc: Svc) -> list[dict[str, Any]]:
    return [dict(r) for r in queries.collector_replicas(svc.store.engine, session.scope)]


# figures


@router.get("/figures/daily", tags=["figures"])
def daily_figures(
    session: Viewer, svc: Svc, days: Days, site: SiteName | None = None, offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """Per checkpoint and day, `first` to `last` (at most a year; by default the last two weeks), by day
    and checkpoint, `limit` rows from `offset` on."""
    return [dict(r) for r in queries.daily(svc.store.engine, days.first, days.last, session.scope, site,
                                           limit=limit, offset=offset)]


@router.get("/counts", tags=["figures"])
def counts(session: Viewer, svc: Svc) -> dict[str, int]:
    return queries.totals(svc.store.engine, session.scope)


# pushes


@router.post("/watchlist", tags=["pushes"])
def upload_watchlist(file: Annotated[UploadFile, File()], request: Request, session: Admin, svc: Svc) -> dict[str, Any]:
    """A CSV of ID numbers; pushed to every box (retained) as keyed pseudonyms."""
    data = read_upload(file)
    version, upload = _pushing(lambda: lists.push_watchlist(svc, data, session, client_address(request)))
    return {"version": version, "entries": len(upload.pseudonyms), "rejected": upload.rejected}


@router.post("/risk-areas", tags=["pushes"])
def push_risk_areas(body: RiskAreas, request: Request, session: Admin, svc: Svc) -> dict[str, str]:
    return {"version": _pushing(lambda: lists.push_risk_areas(svc, body.regions, session, client_address(request)))}


@router.post("/policy", tags=["pushes"])
def push_policy(body: PolicyDocument, request: Request, session: Admin, svc: Svc) -> dict[str, str]:
    """Checked against the policy's JSON Schema; each box checks it again and reports a refusal."""
    return {"version": _pushing(lambda: lists.push_policy(svc, body.document, session, client_address(request)))}


@router.get("/pushes", tags=["pushes"])
def push_history(session: Viewer, svc: Svc, what: PushKind | None = None) -> list[dict[str, Any]]:
    return svc.pusher.history(session.scope, what)


def _pushing(action: Any) -> Any:
    try:
        return action()
    except lists.Refused as exc:
        raise HTTPException(422, str(exc)) from None
    except PushError as exc:
        raise HTTPException(503, str(exc)) from None


# releases


@router.get("/releases", tags=["releases"])
def list_releases(_: Viewer, svc: Svc) -> list[dict[str, Any]]:
    """The releases of the box software central holds (`checkpoint central release-add` adds one)."""
    return [dict(r) for r in svc.releases.listed()]


@router.get("/rollouts", tags=["releases"])
def list_rollouts(session: Viewer, svc: Svc) -> list[dict[str, Any]]:
    """The newest rollouts that reach your area's boxes, with how many of those are pending, sent,
    updated, failed."""
    return svc.rollouts.listed(session.scope)


@router.get("/rollouts/{rollout}", tags=["releases"])
def rollout_boxes(rollout: Annotated[int, PathParam(ge=1, le=2**31 - 1)], session: Viewer, svc: Svc
                  ) -> list[dict[str, Any]]:
    """The rollout's boxes in your area."""
    return svc.rollouts.boxes(rollout, session.scope)


@router.post("/rollouts", tags=["releases"])
def start_rollout(body: NewRollout, request: Request, session: Admin, svc: Svc) -> dict[str, int]:
    """Send a release to boxes in waves, canaries first; it pauses by itself when a wave's failures pass
    `max_failed_percent`. Admins only; audited."""
    try:
        return {"id": svc.rollouts.start(body, session.user.username, session.scope, client_address(request))}
    except RolloutRefused as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/rollouts/{rollout}/{action}", tags=["releases"], status_code=204)
def change_rollout(rollout: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
                   action: Literal["pause", "resume", "cancel"], request: Request, session: Admin,
                   svc: Svc) -> Response:
    """Pause, resume (past the paused wave's failures) or cancel a rollout. Admins only; audited."""
    to = ACTIONS[action]
    try:
        svc.rollouts.change(rollout, to, session.user.username, session.scope, client_address(request))
    except RolloutRefused as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


# exports


@router.get("/exports/ledger.{fmt}", tags=["exports"])
def export_ledger(fmt: Format, site: SiteName, day: Day, request: Request, session: Viewer, svc: Svc) -> Response:
    """A checkpoint's entry-exit ledger for one local day; persons masked. A checkpoint outside the
    user's area: 404, as for one that does not exist."""
    lang, zone = lang_of(request), svc.settings.zone
    if site not in queries.sites(svc.store.engine, session.scope):
        raise HTTPException(404, "no such site")
    rows = queries.ledger(svc.store.engine, site, day, zone, session.scope)
    return send_file(f"ledger-{site}-{day}", fmt, *exports.table(lang, exports.ledger_columns(lang, zone), rows))


@router.get("/exports/figures.{fmt}", tags=["exports"])
def export_figures(fmt: Format, request: Request, session: Viewer, svc: Svc, days: Days) -> Response:
    """Per checkpoint and day in the user's area; the file is named after the area's code. A large one
    is built in the background: 202 and its job (central.web.downloads)."""
    return export(request, session, svc, kind="figures", fmt=fmt, first=days.first, last=days.last,
                  name=f"figures-{session.scope.code}-{days.first}-{days.last}")


@router.get("/exports/cases.{fmt}", tags=["exports"])
def export_cases(fmt: Format, request: Request, session: Viewer, svc: Svc, days: Days) -> Response:
    """Cases of the user's area opened between the two days (inclusive), and every one still open;
    the file is named after the area's code. A large one is built in the background: 202 and its job
    (central.web.downloads)."""
    return export(request, session, svc, kind="cases", fmt=fmt, first=days.first, last=days.last,
                  name=f"cases-{session.scope.code}-{days.first}-{days.last}")


# audit


@router.get("/audit", tags=["audit"])
def audit_log(session: Admin, svc: Svc, action: AuditAction | None = None) -> list[dict[str, Any]]:
    return [dict(r) for r in audit.recent(svc.store.engine, session.scope, action=action)]
