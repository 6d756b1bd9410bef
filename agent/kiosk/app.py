"""The kiosk's web app: the page, its live state (server-sent events) and the staff's actions.

Served on localhost only, and only to requests addressed to it by one of its own names (the Host
header): a site that points its own name at 127.0.0.1 (DNS rebinding) would otherwise be same-origin
with the kiosk. Every action is a POST that must carry the header `X-Kiosk: 1`: a page from
elsewhere cannot add that header without a CORS pre-flight we never grant, which keeps other sites
from driving the station through the kiosk's browser.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import segno
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ValidationError

from agent.commands import ManualId, Override, Remeasure, SetVehicle
from agent.config import KioskSettings
from agent.kiosk.hub import StateHub
from agent.station import Station, StationFull
from common.settings import describe
from contract.messages import TravelInput

STATIC = Path(__file__).with_name("static")


def _kiosk_only(x_kiosk: str | None = Header(default=None)) -> None:
    if x_kiosk != "1":
        raise HTTPException(status_code=403, detail="actions come from the kiosk page only")


def host_name(host: str) -> str:
    """The name in a Host header, without the port: `[::1]:8000` -> `::1`, `Box:8000` -> `box`."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def create_app(station: Station, hub: StateHub, settings: KioskSettings, registry: CollectorRegistry) -> FastAPI:
    venue_code = settings.venue_code
    allowed = {h.lower() for h in settings.allowed_hosts}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        yield

    app = FastAPI(title="Checkpoint kiosk", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def own_names_only(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if host_name(request.headers.get("host", "")) not in allowed:
            return JSONResponse({"detail": "this kiosk answers only to its own names (kiosk.allowed_hosts)"},
                                status_code=421)
        return await call_next(request)

    def submit(command: BaseModel) -> Response:
        try:
            station.submit(command, timeout=1.0)
        except StationFull as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return JSONResponse({"ok": True}, status_code=202)

    def parse(model: type[BaseModel], body: dict[str, Any]) -> BaseModel:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=describe(exc)) from None

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/state")
    def state() -> Response:
        if hub.state is None:
            raise HTTPException(status_code=503, detail="the station is starting")
        return Response(hub.state.model_dump_json(), media_type="application/json")

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            version = -1
            while True:
                state = await hub.next_after(version, timeout=15)
                if state is None:
                    yield ": keep-alive\n\n"
                    continue
                version = state.version
                yield f"data: {state.model_dump_json()}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/api/remeasure", dependencies=[Depends(_kiosk_only)])
    def remeasure() -> Response:
        return submit(Remeasure())

    @app.post("/api/manual-id", dependencies=[Depends(_kiosk_only)])
    def manual_id(body: dict[str, Any]) -> Response:
        return submit(parse(ManualId, body))

    @app.post("/api/override", dependencies=[Depends(_kiosk_only)])
    def override(body: dict[str, Any]) -> Response:
        return submit(parse(Override, body))

    @app.post("/api/vehicle", dependencies=[Depends(_kiosk_only)])
    def vehicle(body: dict[str, Any]) -> Response:
        travel = parse(TravelInput, {k: v or None for k, v in body.items()})
        return submit(SetVehicle(vehicle=travel))  # type: ignore[arg-type]

    @app.delete("/api/vehicle", dependencies=[Depends(_kiosk_only)])
    def clear_vehicle() -> Response:
        return submit(SetVehicle(vehicle=None))

    svg = _qr_svg(venue_code) if venue_code else b""

    @app.get("/venue.svg")
    def venue() -> Response:
        """The checkpoint's own venue code, for travellers to scan (场所码)."""
        if not svg:
            raise HTTPException(status_code=404, detail="no venue code configured")
        return Response(svg, media_type="image/svg+xml")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, border=2)
    return out.getvalue()
