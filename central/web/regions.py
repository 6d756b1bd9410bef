"""The region tree over the web: every user sees their own part of it (their node, the nodes below,
the checkpoints at each); an admin loads nodes below their node from a table (CSV or XLSX) and puts
checkpoints at nodes, all within their own area. A table with any bad line loads nothing and says
what is wrong with each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from central import audit, regions, sheets
from central.auth import Session
from central.web.pages import render
from central.web.params import UPLOAD_MAX_BYTES, SitePath
from central.web.security import Admin, Viewer, client_address
from central.web.services import Services, Svc
from contract.messages import NAME_PATTERN

api = APIRouter(prefix="/api", tags=["regions"])
page = APIRouter(include_in_schema=False)


class Placement(BaseModel):
    region: str = Field(pattern=regions.REGION_PATTERN)


def load(svc: Services, session: Session, data: bytes, address: str) -> regions.Imported:
    """The table loaded below the user's node, and audited; BadLines or RegionError when refused."""
    if len(data) > UPLOAD_MAX_BYTES:
        raise regions.RegionError("the file is over 50 MB")
    with svc.store.engine.begin() as conn:
        done = regions.load_tree(conn, session.scope, data)
        audit.record(conn, session.user.username, "regions_import", session.scope.code,
                     f"{done.added} added, {done.changed} changed, {done.unchanged} unchanged", address)
    return done


def place(svc: Services, session: Session, site: str, region: str, address: str) -> None:
    """Put a checkpoint of the user's area at a node of it (RegionError, as for none, otherwise)."""
    with svc.store.engine.begin() as conn:
        regions.site_region(conn, session.scope, site)
        regions.node_in(conn, session.scope, region)
        regions.place_site(conn, site, region)
        audit.record(conn, session.user.username, "place_site", site, region, address)


def _refusal(exc: regions.RegionError | sheets.BadLines) -> dict[str, Any]:
    return exc.answer() if isinstance(exc, sheets.BadLines) else {"error": str(exc), "errors": []}


@api.get("/regions")
def list_regions(session: Viewer, svc: Svc) -> list[dict[str, Any]]:
    """Your node and every node below it, a parent before its children, with the checkpoints at each."""
    with svc.store.engine.connect() as conn:
        return [vars(node) for node in regions.tree(conn, session.scope)]


@api.post("/regions/file")
def import_regions(file: Annotated[UploadFile, File()], request: Request, session: Admin, svc: Svc
                   ) -> dict[str, int]:
    """A CSV or XLSX table with the columns 代码 (code), 名称 (name), 上级代码 (parent; empty: your own
    node), loaded below your node: all of it, or nothing (422 with every bad line and why)."""
    try:
        done = load(svc, session, file.file.read(UPLOAD_MAX_BYTES + 1), client_address(request))
    except (regions.RegionError, sheets.BadLines) as exc:
        raise HTTPException(422, _refusal(exc)) from None
    return vars(done)


@api.put("/sites/{site}", status_code=204)
def place_site(site: SitePath, body: Placement, request: Request, session: Admin,
               svc: Svc) -> Response:
    """Put a checkpoint of your area at a node of your area (404 for either outside it)."""
    try:
        place(svc, session, site, body.region, client_address(request))
    except regions.RegionError as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(status_code=204)


@page.get("/regions")
def regions_page(request: Request, session: Viewer, svc: Svc) -> HTMLResponse:
    return _page(request, session, svc)


@page.post("/regions/import")
def regions_import(request: Request, session: Admin, svc: Svc, file: Annotated[UploadFile, File()]) -> HTMLResponse:
    try:
        done = load(svc, session, file.file.read(UPLOAD_MAX_BYTES + 1), client_address(request))
    except (regions.RegionError, sheets.BadLines) as exc:
        return _page(request, session, svc, status_code=422, refused=_refusal(exc))
    return _page(request, session, svc, imported=done)


@page.post("/regions/place")
def regions_place(request: Request, session: Admin, svc: Svc, site: Annotated[str, Form(pattern=NAME_PATTERN)],
                  region: Annotated[str, Form(pattern=regions.REGION_PATTERN)]) -> HTMLResponse:
    try:
        place(svc, session, site, region, client_address(request))
    except regions.RegionError as exc:
        return _page(request, session, svc, status_code=404, refused=_refusal(exc))
    return _page(request, session, svc, placed=f"{site} → {region}")


@page.get("/regions/sample.csv")
def sample(_: Viewer) -> Response:
    """The built-in sample tree: the shape of the table to fill in."""
    return Response(regions.SAMPLE.read_bytes(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="regions-sample.csv"'})


def _page(request: Request, session: Session, svc: Services, status_code: int = 200, **extra: Any) -> HTMLResponse:
    with svc.store.engine.connect() as conn:
        nodes = regions.tree(conn, session.scope)
    return render(request, "regions.html", session, svc, status_code=status_code, nodes=nodes,
                  sites=sorted(s for n in nodes for s in n.sites), **extra)
