"""Central's HTTP surface under hostile input: no login, injection through parameters, traversal and
header injection through export names. Real server, real SQLite, real HTTP."""

from __future__ import annotations

import re

import pytest

from tests.central.conftest import Server
from tests.central.conftest import server as server  # fixtures shared with the central tests
from tests.central.conftest import sqlite_store as sqlite_store

HOSTILE = [
    "' OR '1'='1",
    "site-a' OR 1=1 --",
    "site-a; DROP TABLE verdicts; --",
    "../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    'site-a"; filename="evil.exe',
    "site-a\r\nSet-Cookie: cp_session=stolen",
    "x" * 5000,
]


def test_nothing_but_login_and_health_answers_without_a_session(server: Server) -> None:
    spec = server.login("viewer").get("/openapi.json").json()
    anonymous = server.client()
    for path, methods in spec["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path).replace(".1", ".csv")
        for method in methods:
            answer = anonymous.request(method.upper(), url)
            if path in ("/healthz", "/api/session"):
                continue
            assert answer.status_code in (401, 403), f"{method.upper()} {path} answered {answer.status_code}"
    for page in ("/", "/cases", "/devices", "/figures", "/ledger", "/lists", "/audit", "/openapi.json"):
        answer = anonymous.get(page, follow_redirects=False)
        assert answer.status_code in (303, 307, 401) and "login" in answer.headers.get("location", "/login")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameters_neither_break_nor_widen_a_query(server: Server, value: str) -> None:
    viewer = server.login("viewer")
    listed = viewer.get("/api/verdicts", params={"site": value})
    assert listed.status_code in (200, 422), listed.text[:200]
    if listed.status_code == 200:
        assert listed.json() == []  # nothing matches a site of that name; the filter was not bypassed
    figures = viewer.get("/api/figures/daily", params={"site": value})
    assert figures.status_code in (200, 422) and (figures.status_code == 422 or figures.json() == [])
    assert viewer.get("/api/verdicts").status_code == 200  # the table is still there


@pytest.mark.parametrize("value", HOSTILE)
def test_export_names_cannot_traverse_or_inject_headers(server: Server, value: str) -> None:
    viewer = server.login("viewer")
    answer = viewer.get("/api/exports/ledger.csv", params={"site": value, "day": "2026-11-23"})
    assert answer.status_code in (200, 422), answer.text[:200]
    disposition = answer.headers.get("content-disposition", "")
    assert "\r" not in disposition and "\n" not in disposition and "cp_session=stolen" not in answer.headers.get(
        "set-cookie", ""
    )
    if answer.status_code == 200:
        name = re.search(r'filename="([^"]*)"', disposition)
        assert name is not None and re.fullmatch(r"[A-Za-z0-9._-]+", name.group(1)), disposition
        assert ".." not in name.group(1) and "/" not in name.group(1)
    assert viewer.get("/api/exports/ledger.exe", params={"site": "site-a", "day": "2026-11-23"}).status_code == 422


def test_a_lower_role_cannot_push_or_administer(server: Server) -> None:
    viewer, operator = server.login("viewer"), server.login("operator")
    for client in (viewer, operator):
        assert client.post("/api/policy", json={"version": "x", "document": {}}).status_code == 403
        assert client.post("/api/devices", json={"device": "box-z", "site": "site-z", "kind": "traffic",
                                                 "key_hex": "00" * 32}).status_code == 403
        assert client.delete("/api/devices/box-a").status_code == 403
        assert client.get("/api/audit").status_code == 403
