"""Nothing a logged-in viewer (or anyone) puts in a URL, a query or a form makes central answer 5xx:
every route of the app, the pages included, is walked with hostile values for each of its
parameters, by the parameter's declared type (days in year 1 and 9999, ids past the database's
integers, huge page numbers, NUL bytes, injection strings), on SQLite and on PostgreSQL. The walk
is generated from the routes themselves and checked against the OpenAPI document, so a new route
or parameter is walked without anyone adding it here. Each refusal says why."""

from __future__ import annotations

import functools
import types
import typing
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from tests.central.conftest import PASSWORD, Server
from tests.central.conftest import any_server as any_server  # fixtures shared with the central tests
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes
from tests.central.conftest import store as store
from tests.security.test_api_attacks import HOSTILE as INJECTIONS

HOSTILE: dict[type, list[str]] = {
    int: ["-1", "0", "2147483648", "9223372036854775808", "99999999999999999999999999", "1e3", ""],
    date: ["0001-01-01", "9999-12-31", "1969-12-31", "2026-02-30", "+10000-01-01", "0000-00-00"],
    datetime: ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01", "9999-12-31", "1e20"],
    bool: ["maybe", "2"],
    str: [*INJECTIONS[::2], INJECTIONS[-1], "a\x00b", "\u202e\u0000", "x" * 20_000, "", "%",
          "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")],
}
# a valid value for each required parameter, so that the hostile one is the only thing wrong
VALID: dict[str, str] = {"fmt": "csv", "site": "site-a", "day": "2026-11-23", "case_id": "1", "device": "box-a",
                         "verdict_id": str(uuid.uuid4()), "request_id": str(uuid.uuid4()), "lang": "en",
                         "username": "viewer", "password": PASSWORD, "action": "note", "note": "hostile walk",
                         "why": "hostile walk", "version": "1.0.0", "name": "checkpoint-1.0.0.tar.gz",
                         "region": "0", "ob_id": "1", "rollout": "1", "job_id": str(uuid.uuid4())}
# request bodies of the JSON routes, valid but for the one field being walked
BODIES: dict[str, dict[str, Any]] = {
    "/api/session": {"username": "viewer", "password": "a-wrong-password"},
    "/api/me/password": {"current": "a-wrong-password", "new": "another-long-password"},
    "/api/cases/{case_id}/actions": {"action": "note", "note": "hostile walk"},
    "/api/cases/{case_id}/unmask": {"why": "hostile walk"},
    "/api/devices": {"device": "box-z", "site": "site-z", "kind": "traffic", "key_hex": "ab" * 32},
    "/api/risk-areas": {"regions": []},
    "/api/policy": {"document": {}},
    "/api/devices/{device}/diagnostics": {"log_lines": 10},
    "/api/sites/{site}": {"region": "0"},
    "/api/registrations": {"entries": [{"id_number": "11010519491231002X", "name": "测试",
                                        "destination": "390102001001", "expected": "2026-12-01"}]},
    "/api/rollouts": {"version": "1.0.0"},
    "/api/obligations/{ob_id}/done": {"note": "hostile walk"},
    "/api/obligations/{ob_id}/waive": {"reason": "hostile walk"},
    "/api/cases/{case_id}/handoff": {"to": "0", "note": "hostile walk"},
}
SKIP = {"/api/feed"}  # a stream: walked by its own query below, where a hostile `since` must fail fast


def _kind(annotation: Any) -> type | None:
    """int, date, datetime, bool or str for a parameter's declared type (None: not a scalar)."""
    while typing.get_origin(annotation) in (typing.Annotated, typing.Union, types.UnionType):
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal or annotation is uuid.UUID:
        return str
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return str
    for kind in (bool, int, datetime, date, str):  # bool before int, datetime before date
        if annotation is kind:
            return kind
    return None


def _routes(app: FastAPI) -> typing.Iterator[tuple[str, APIRoute]]:
    """Every route of the app with its full path, the included routers' ones too."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            yield context.path, context.original_route


def _request(method: str, template: str, path_values: dict[str, str], query: dict[str, str], form: dict[str, str],
             json: dict[str, Any] | None) -> tuple[str, str, str, dict[str, Any]]:
    path = template
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    extra: dict[str, Any] = {"params": query}
    if form:
        extra["data"] = form
    if json is not None:
        extra["json"] = json
    return method, template, path, extra


def _requests(app: FastAPI) -> typing.Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(method, route, path, httpx keyword arguments) for each hostile value of each parameter of each route."""
    for template, route in _routes(app):
        if template in SKIP:
            continue
        fields = get_flat_params(route.dependant)
        body = route.dependant.body_params
        json_model = body[0].field_info.annotation if len(body) == 1 and not isinstance(
            body[0].field_info, params.Form) else None
        forms = [f for f in body if isinstance(f.field_info, params.Form)]
        for method in sorted(route.methods):
            base_path = {f.alias: VALID[f.alias] for f in fields if isinstance(f.field_info, params.Path)}
            base_form = {f.alias: VALID.get(f.alias, "x") for f in forms}
            base_json = BODIES.get(template) if json_model is not None else None
            if json_model is not None:
                assert base_json is not None, f"add a valid body for {method} {template} to BODIES"

            ask = functools.partial(_request, method, template)
            required_query = {f.alias: VALID[f.alias] for f in fields
                              if isinstance(f.field_info, params.Query) and f.field_info.is_required()}
            for field in fields:
                kind = _kind(field.field_info.annotation)
                if kind is None or isinstance(field.field_info, (params.Header, params.Cookie)):
                    continue
                for value in HOSTILE[kind]:
                    if isinstance(field.field_info, params.Path):
                        yield ask({**base_path, field.alias: value}, required_query, base_form, base_json)
                    elif method == "GET":
                        yield ask(base_path, {**required_query, field.alias: value}, base_form, base_json)
            for field in forms:
                for value in HOSTILE[str]:
                    yield ask(base_path, required_query, {**base_form, field.alias: value}, base_json)
            if isinstance(json_model, type) and issubclass(json_model, BaseModel) and base_json is not None:
                for name, info in json_model.model_fields.items():
                    for value in HOSTILE[_kind(info.annotation) or str]:  # a list or mapping gets text
                        yield ask(base_path, required_query, base_form, {**base_json, name: value})


def _check(client: httpx.Client, method: str, _route: str, path: str, extra: dict[str, Any]) -> str:
    what = f"{method} {path[:100]} {str(extra)[:200]}"
    try:
        with client.stream(method, path, **extra) as answer:
            status = answer.status_code
            if answer.headers.get("content-type", "").startswith("text/event-stream"):
                return f"{what}: a hostile value started a stream"
            text = answer.read().decode("utf-8", "replace")
    except httpx.TransportError as exc:
        return f"{what}: the server dropped the connection ({exc!r})"
    what += f" -> {status}"
    if status >= 500:
        return f"{what}: {text[:300]}"
    if 400 <= status < 500 and not ('"detail"' in text or 'class="error"' in text):
        return f"{what}: refused without a reason: {text[:200]}"
    return ""


def test_no_parameter_of_any_route_makes_a_server_error(any_server: Server) -> None:
    app = any_server.server.config.app
    admin = any_server.login("admin")
    requests = list(_requests(app))
    walked = {(method, route) for method, route, _path, _extra in requests}
    spec = admin.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), path) for path, methods in spec.items() for m, op in methods.items()
                  if (op.get("parameters") or op.get("requestBody")) and path not in SKIP}
    assert documented - walked == set()  # every documented route with parameters is walked
    assert len(walked - documented) >= 5  # and the pages too
    problems = [p for p in (_check(admin, *r) for r in requests) if p]
    assert not problems, f"{len(problems)} of {len(requests)}:\n" + "\n".join(problems[:25])
def test_ranges_days_and_streams_are_bounded_with_a_reason(any_server: Server) -> None:
    viewer = any_server.login("viewer")
    for path in ("/api/figures/daily", "/api/exports/figures.csv", "/api/exports/cases.xlsx", "/figures"):
        fifty_years = viewer.get(path, params={"first": "2000-01-01", "last": "2049-12-31"})
        assert fifty_years.status_code == 422 and "366 days" in fifty_years.text, path
        backwards = viewer.get(path, params={"first": "2026-03-02", "last": "2026-03-01"})
        assert backwards.status_code == 422 and "after the last" in backwards.text, path
        assert viewer.get(path, params={"first": "2026-01-01", "last": "2026-12-31"}).status_code == 200, path
    refused = viewer.get("/api/feed", params={"since": "0001-01-01T00:00:00+14:00"})
    assert refused.status_code == 422 and "since" in refused.text
    page = viewer.get("/ledger", params={"day": "9999-12-31"})
    assert page.status_code == 422 and "参数无效" in page.text and "day" in page.text
    missing = any_server.login("operator").post("/cases/999999/unmask", data={"why": "核对"})
    assert missing.status_code == 404 and "未找到" in missing.text
