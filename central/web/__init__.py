"""Central's web server: the JSON API (OpenAPI at /openapi.json), the live feed, the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from central.auth import Accounts
from central.config import CentralSettings
from central.i18n import tr
from central.push import Pusher
from central.sql import storage_error
from central.store import Store
from central.web import api, feed, pages
from central.web.security import Forbidden, NeedLogin, current_session, lang_of
from central.web.services import Services
from central.writer_state import Health

STATIC = Path(__file__).parent.parent / "static"


def create_app(
    settings: CentralSettings, store: Store, health: Callable[[], Health | None] = lambda: None
) -> FastAPI:
    app = FastAPI(
        title="Checkpoint central",
        version="1",
        description="Verdicts, cases, devices, daily figures, watch-list and policy pushes, exports. "
        "Log in with POST /api/session and send `Authorization: Bearer <token>`.",
    )
    accounts = Accounts(store.engine, settings.http.session_hours)
    app.state.accounts = accounts
    app.state.services = Services(settings, store, accounts, Pusher(store.engine, settings.mqtt), health)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(feed.router)
    app.include_router(pages.router)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, _exc: NeedLogin) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /api/session)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        session = await current_session(request)
        return pages.render(request, "error.html", session, app.state.services,
                            message=f"{tr(lang_of(request), 'forbidden')} ({exc})", status_code=403)

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
