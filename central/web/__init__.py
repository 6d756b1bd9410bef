"""Central's web server: the JSON API (OpenAPI at /openapi.json), the live feed, the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.auth import Accounts, Session
from central.config import CentralSettings
from central.export_jobs import ExportJobs
from central.i18n import tr
from central.push import Pusher
from central.releases import Releases
from central.rollouts import Rollouts
from central.sql import storage_error
from central.store import Store
from central.web import api, boxes, device, downloads, feed, obligations, pages, regions, registrations, report
from central.web.headers import SecurityHeaders
from central.web.security import Forbidden, NeedLogin, NotABox, current_session, lang_of, viewer
from central.web.services import Services
from central.writer_state import Health

STATIC = Path(__file__).parent.parent / "static"


def create_app(
    settings: CentralSettings, store: Store, health: Callable[[], Health | None] = lambda: None
) -> FastAPI:
    # no /docs or /redoc: they load their scripts from a CDN, which offices and boxes may not reach;
    # the OpenAPI document itself is for logged-in users (below)
    app = FastAPI(
        title="Checkpoint central",
        version="1",
        description="Verdicts, cases, devices, daily figures, watch-list and policy pushes, exports. "
        "Log in with POST /api/session and send `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.http.frame_ancestors)
    accounts = Accounts(store.engine, settings.http.session_hours)
    app.state.accounts = accounts
    pusher = Pusher(store.engine, settings.mqtt, settings.downlink_signer)
    releases = Releases(store.engine, settings.releases_dir, settings.release_key)
    rollouts = Rollouts(store.engine, settings.mqtt, settings.downlink_signer)
    exports = ExportJobs(store.engine, store.url, settings.exports)
    app.state.services = Services(settings, store, accounts, pusher, health, releases, rollouts, exports)
    app.router.on_shutdown.append(exports.close)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(downloads.router)
    app.include_router(boxes.router)
    app.include_router(feed.router)
    app.include_router(pages.router)
    app.include_router(device.router)
    app.include_router(registrations.api)
    app.include_router(registrations.page)
    app.include_router(regions.api)
    app.include_router(regions.page)
    app.include_router(report.api)
    app.include_router(report.page)
    app.include_router(obligations.api)
    app.include_router(obligations.page)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, _exc: NeedLogin) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /api/session)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(NotABox)
    async def not_a_box(_request: Request, exc: NotABox) -> Response:
        return JSONResponse({"detail": f"not a box's signed request: {exc}"}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        """A parameter out of bounds: the API says which and why (422), a page says it in words."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return await _error_page(request, f"{tr(lang_of(request), 'bad_parameter')}: {reasons}", 422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/static/", "/openapi.json", "/healthz")):
            return await http_exception_handler(request, exc)
        return await _error_page(request, f"{exc.status_code}: {exc.detail}", exc.status_code, exc.headers)

    async def _error_page(request: Request, message: str, status: int, headers: Mapping[str, str] | None = None
                          ) -> Response:
        session = await current_session(request)
        page = pages.render(request, "error.html", session, app.state.services, message=message, status_code=status)
        page.headers.update(headers or {})
        return page

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return await _error_page(request, f"{tr(lang_of(request), 'forbidden')} ({exc})", 403)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Annotated[Session, Depends(viewer)]) -> JSONResponse:
        """The API's description, for a logged-in user or script."""
        return JSONResponse(app.openapi())

    @app.exception_handler(OperationalError)
    async def storage_unavailable(request: Request, exc: OperationalError) -> Response:
        """The database is away (stopped, full, locked): 503 and the collector's state, not a 500."""
        writer = app.state.services.health()
        reason = storage_error(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": f"storage unavailable: {reason}",
                                 "collector": writer.document() if writer else None}, status_code=503)
        return pages.render(request, "error.html", None, app.state.services, writer=writer, reason=reason,
                            message=tr(lang_of(request), "storage_unavailable_page"), status_code=503)

    @app.get("/healthz", tags=["health"])
    def healthz(response: Response) -> dict[str, Any]:
        """200 while this process's collector is subscribed at the broker and its database takes
        writes; 503 otherwise. Either way the collector's state: storage and broker state, since
        when, the database's last error, seconds since the last commit, messages held (backlog)."""
        writer = app.state.services.health()
        if writer is None:
            return {"status": "ok"}
        if not writer.ok:
            response.status_code = 503
        return writer.document()

    return app
