"""Central's web server: the JSON API (OpenAPI at /openapi.json), the live feed, the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from central.auth import Accounts
from central.config import CentralSettings
from central.i18n import tr
from central.push import Pusher
from central.store import Store
from central.web import api, feed, pages
from central.web.security import Forbidden, NeedLogin, current_session, lang_of
from central.web.services import Services

STATIC = Path(__file__).parent.parent / "static"


def create_app(settings: CentralSettings, store: Store, ready: Callable[[], bool] = lambda: True) -> FastAPI:
    app = FastAPI(
        title="Checkpoint central",
        version="1",
        description="Verdicts, cases, devices, daily figures, watch-list and policy pushes, exports. "
        "Log in with POST /api/session and send `Authorization: Bearer <token>`.",
    )
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

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        session = await current_session(request)
        return pages.render(request, "error.html", session, app.state.services,
                            message=f"{tr(lang_of(request), 'forbidden')} ({exc})", status_code=403)

    @app.get("/healthz", tags=["health"])
    def healthz(response: Response) -> dict[str, str]:
        """200 once the collector is subscribed at the broker, 503 before (and while it is away)."""
        if ready():
            return {"status": "ok"}
        response.status_code = 503
        return {"status": "collector not subscribed"}

    return app
