"""What every answer of central tells the browser: a content security policy that allows nothing
from elsewhere and no framing, nosniff; no Swagger pages (they load a CDN) and the API description
for logged-in users only; cookies over HTTPS only whenever the office reaches central over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml

from central.config import CentralSettings
from checkpoint.provision import actions
from checkpoint.provision.deployment import Deployment
from common import settings as settings_file
from tests.central.conftest import PASSWORD, Server
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes  # shared fixtures
from tests.central.conftest import server as server
from tests.central.conftest import sqlite_store as sqlite_store
from tests.deploy.conftest import make_deployment


def _protected(answer: httpx.Response) -> None:
    where = f"{answer.request.method} {answer.request.url.path} ({answer.status_code})"
    csp = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp, where
    assert "unsafe-inline" not in csp and "http" not in csp.replace("https:", ""), where  # no CDN, no inline script
    assert answer.headers.get("x-frame-options") == "DENY", where
    assert answer.headers.get("x-content-type-options") == "nosniff", where


def test_every_answer_carries_the_browser_protections(server: Server) -> None:
    admin = server.login("admin")
    anonymous = server.client()
    paths = [p for p in admin.get("/openapi.json").json()["paths"] if "{" not in p and p != "/api/feed"]
    assert len(paths) > 10
    for path in [*paths, "/", "/cases", "/cases/1", "/devices", "/figures", "/ledger", "/lists", "/audit",
                 "/static/app.css", "/static/app.js", "/no-such-page", "/api/exports/figures.csv"]:
        _protected(admin.get(path))
        _protected(anonymous.get(path))
    _protected(anonymous.get("/login"))
    _protected(anonymous.post("/api/session", json={"username": "admin", "password": "wrong-password"}))


def test_no_swagger_pages_and_the_api_description_needs_a_login(server: Server) -> None:
    anonymous = server.client()
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert anonymous.get(path).status_code == 404, path
        assert server.login("viewer").get(path).status_code == 404, path
    assert "login" in anonymous.get("/openapi.json").headers["location"]
    assert anonymous.get("/openapi.json", headers={"Accept": "application/json"}).status_code in (303, 401)
    assert "/api/verdicts" in server.login("viewer").get("/openapi.json").json()["paths"]


def _login_cookies(client: httpx.Client, headers: dict[str, str]) -> list[str]:
    form = client.get("/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    cookie = {"Cookie": f"cp_login_csrf={token}"}  # as the browser on the HTTPS side sends it back
    done = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token},
                       headers={**headers, **cookie})
    assert done.status_code == 303 and done.headers["location"] == "/"
    return form.headers.get_list("set-cookie") + done.headers.get_list("set-cookie")


def test_cookies_go_over_https_only_when_the_office_reaches_central_over_https(server: Server) -> None:
    behind_tls = {"X-Forwarded-Proto": "https"}  # what the reverse proxy on central's machine says
    cookies = _login_cookies(server.client(), behind_tls)
    assert {c.split("=")[0] for c in cookies} == {"cp_login_csrf", "cp_session"}
    assert all("; secure" in c.lower() for c in cookies), cookies
    assert server.client().get("/login", headers=behind_tls).headers["strict-transport-security"]
    plain = _login_cookies(server.client(), {})  # plain HTTP (a test bench, the demo): cookies still work
    assert not any("; secure" in c.lower() for c in plain) and "strict-transport-security" not in (
        server.client().get("/login").headers)


def test_provisioning_a_dashboard_behind_tls_turns_secure_cookies_on(tmp_path: Path) -> None:
    deployment: Deployment = make_deployment(tmp_path)
    loaded = settings_file.load(CentralSettings, deployment.central_config)
    assert not loaded.http.secure_cookies  # no dashboard address given: plain HTTP stays possible
    settings = deployment.settings().model_copy(update={"dashboard_url": "https://center.county.example"})
    actions.init(deployment, settings)
    written = yaml.safe_load(deployment.central_config.read_text())
    loaded = settings_file.load(CentralSettings, deployment.central_config)
    assert loaded.http.secure_cookies and loaded.http.public_url == "https://center.county.example", written
