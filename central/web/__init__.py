"""Central's web server: the JSON API (OpenAPI at /openapi.json), the live feed, the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.auth import Accounts, Session
from central.config import CentralSettings
from central.i18n import tr
from central.push import Pusher
from central.store import Store
from central.web import api, feed, pages
from central.web.headers import SecurityHeaders
from central.web.security import Forbidden, NeedLogin, current_session, lang_of, viewer
from central.web.services import Services

STATIC = Path(__file__).parent.parent / "static"


def create_app(settings: CentralSettings, store: Store, ready: Callable[[], bool] = lambda: True) -> FastAPI:
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
    app.state.services = Services(settings, store, accounts, pusher, ready)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(feed.router)
    app.include_router(pages.router)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, _exc: NeedLogin) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /api/session)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

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

    @app.get("/healthz", tags=["health"])
    def healthz(response: Response) -> dict[str, str]:
        """200 once the collector is subscribed at the broker, 503 before (and while it is away)."""
        if ready():
            return {"status": "ok"}
        response.status_code = 503
        return {"status": "collector not subscribed"}

    return app
