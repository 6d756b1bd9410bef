"""Central's web pages and API (FastAPI)."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from central.store import Store

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def create_app(store: Store, ready: Callable[[], bool] = lambda: True) -> FastAPI:
    app = FastAPI(title="Checkpoint central", version="1")

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Any:
        return TEMPLATES.TemplateResponse(
            request,
            "index.html",
            {
                "latest": store.latest(50),
                "flagged": store.latest(50, flagged_only=True),
                "counts": store.counts(),
                "devices": store.device_status(),
            },
        )

    @app.get("/api/counts")
    def counts() -> dict[str, int]:
        return store.counts()

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, str]:
        """200 once the collector is subscribed at the broker, 503 before (and while it is away)."""
        if ready():
            return {"status": "ok"}
        response.status_code = 503
        return {"status": "collector not subscribed"}

    return app
