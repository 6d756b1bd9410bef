"""The worklist over the web: each office sees what its area owes, the most urgent first; confirms and
waives what it owes, hands cases off; an obligation going overdue reaches the live feed and the
webhooks; and in Chromium, the page with its test-result import and progress bar."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from central.auth import Accounts, Role
from central.obligations import mark_overdue
from central.schema import audit_log
from central.store import Store
from central.webhooks import AlertSender
from tests import mqtt
from tests.browser import launch, log_in
from tests.central.conftest import PASSWORD, Server, db_url, settings_for, synthetic_id
from tests.central.obligation_helpers import (
    COMMUNITY,
    COUNTY,
    DEADLINES,
    OTHER_COUNTY,
    batch,
    owed,
    plant,
    traveller,
)

USERS = {"county": (Role.OPERATOR, COUNTY), "other": (Role.OPERATOR, OTHER_COUNTY),
         "community": (Role.OPERATOR, COMMUNITY), "chief": (Role.ADMIN, COUNTY), "reader": (Role.VIEWER, COUNTY)}


class Hooks(BaseHTTPRequestHandler):
    """A webhook receiver: what it was sent, in order."""

    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        Hooks.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[str]:
    Hooks.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(params=["sqlite", "postgresql"])
def office(request: pytest.FixtureRequest, tmp_path: Path, hooks: str) -> Iterator[tuple[Server, Store]]:
    store = Store(db_url(request, tmp_path, request.param), alert_urls=[hooks], deadlines=DEADLINES)
    store.migrate()
    plant(store)
    for name, (role, node) in USERS.items():
        Accounts(store.engine).add(name, PASSWORD, role, node)
    for v in (traveller(1, 1, "red"), traveller(2, 2, "yellow", destination=COMMUNITY),
              traveller(3, 3, "red", device="box-b")):
        store.write_batch(batch(v))  # one by one: the obligations' ids in this order
    with Server(settings_for(None, webhooks={"urls": [hooks]}), store) as server:
        yield server, store
    store.dispose()


def _ids(client: httpx.Client) -> list[int]:
    answer = client.get("/api/obligations")
    assert answer.status_code == 200
    return [r["id"] for r in answer.json()]


def test_each_office_sees_its_own_area_most_urgent_first(office: tuple[Server, Store]) -> None:
    server, store = office
    transfer, test, elsewhere = owed(store)
    assert _ids(server.login("county")) == [transfer["id"], test["id"]]  # 4 h before 24 h
    assert _ids(server.login("community")) == [test["id"]]
    assert _ids(server.login("other")) == [elsewhere["id"]]
    page = server.login("county").get("/worklist")
    assert page.status_code == 200 and page.text.index(f'data-obligation="{transfer["id"]}"') \
        < page.text.index(f'data-obligation="{test["id"]}"')
    assert f'data-obligation="{elsewhere["id"]}"' not in page.text


def test_confirm_waive_and_hand_off_each_checked_and_audited(office: tuple[Server, Store]) -> None:
    server, store = office
    transfer, test, elsewhere = owed(store)
    county, other, reader = server.login("county"), server.login("other"), server.login("reader")
    assert other.post(f"/api/obligations/{transfer['id']}/done", json={"note": "x"}).status_code == 404
    assert reader.post(f"/api/obligations/{transfer['id']}/done", json={"note": "x"}).status_code == 403
    assert county.post(f"/api/obligations/{transfer['id']}/done", json={"note": ""}).status_code == 422
    assert county.post(f"/api/obligations/{test['id']}/waive", json={"reason": "离开"}).status_code == 403  # admin
    done = county.post(f"/api/obligations/{transfer['id']}/done", json={"note": "已送达集中隔离点"})
    assert done.status_code == 204
    assert county.post(f"/api/obligations/{transfer['id']}/done", json={"note": "again"}).status_code == 409
    assert server.login("chief").post(f"/api/obligations/{test['id']}/waive",
                                      json={"reason": "已出省"}).status_code == 204
    moved = other.post(f"/api/cases/{elsewhere['case_id']}/handoff", json={"to": COUNTY, "note": "目的地江岸"})
    assert moved.status_code == 200 and moved.json() == {"moved": 1}
    assert _ids(county) == [elsewhere["id"]] and _ids(other) == []
    assert other.post(f"/api/cases/{elsewhere['case_id']}/handoff", json={"to": COUNTY}).status_code == 409
    case = county.get(f"/cases/{elsewhere['case_id']}")
    assert "移交" in case.text and f"{OTHER_COUNTY} → {COUNTY}" in case.text
    with store.engine.connect() as conn:
        actions = [(r.username, r.action) for r in conn.execute(select(audit_log.c.username, audit_log.c.action)
                                                                 .where(audit_log.c.action != "login"))]
    assert ("county", "obligation_done") in actions and ("chief", "obligation_waive") in actions
    assert ("other", "handoff") in actions


def test_the_pages_forms_go_back_where_they_came_from(office: tuple[Server, Store]) -> None:
    server, store = office
    transfer, _test, _elsewhere = owed(store)
    client = server.client()
    login_page = client.get("/login")
    token = login_page.text.split('name="csrf_token" value="')[1].split('"')[0] if 'name="csrf_token"' in \
        login_page.text else ""
    client.post("/login", data={"username": "county", "password": PASSWORD, "csrf_token": token})
    page = client.get("/worklist")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    empty = client.post(f"/obligations/{transfer['id']}/done", data={"csrf_token": csrf, "note": " "},
                        follow_redirects=False)
    assert empty.status_code == 303 and "error=" in empty.headers["location"]
    done = client.post(f"/obligations/{transfer['id']}/done",
                       data={"csrf_token": csrf, "note": "已送达", "back": f"/cases/{transfer['case_id']}"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{transfer['case_id']}"
    assert owed(store)[0]["state"] == "done"
    elsewhere = client.post("/obligations/1/done", data={"csrf_token": csrf, "note": "x", "back": "//evil.example"},
                            follow_redirects=False)
    assert elsewhere.headers["location"].startswith("/worklist")


def test_going_overdue_reaches_the_feed_and_the_webhooks(office: tuple[Server, Store]) -> None:
    server, store = office
    transfer, _test, elsewhere = owed(store)
    county = server.login("county")
    with county.stream("GET", "/api/feed", timeout=20) as feed:
        lines = feed.iter_lines()
        assert next(lines).startswith("retry:")
        assert mark_overdue(store.engine, store.obligations, max(transfer["deadline"], elsewhere["deadline"])) == 2
        while next(lines) != "event: overdue":  # the flagged arrivals of the last half minute come first
            pass
        data = json.loads(next(lines).removeprefix("data: "))
    assert (data["id"], data["kind_text"], data["node"]) == (transfer["id"], "点对点转运至隔离点", COUNTY)
    sender = AlertSender(store.engine, settings_for(None).webhooks)
    with httpx.Client() as http:
        mqtt.wait_until(lambda: sender.send_due(http) == 0 and
                        sum(h["type"] == "obligation_overdue" for h in Hooks.got) == 2, what="overdue webhooks")
    overdue = [h for h in Hooks.got if h["type"] == "obligation_overdue"]
    assert {h["obligation"]["id"] for h in overdue} == {transfer["id"], elsewhere["id"]}
    assert all(h["obligation"]["state"] == "overdue" and synthetic_id(seq=1) not in json.dumps(h) for h in overdue)


@pytest.mark.browser
def test_the_worklist_page_imports_results_with_a_progress_bar(tmp_path: Path, hooks: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'central.sqlite'}", deadlines=DEADLINES)
    store.migrate()
    plant(store)
    Accounts(store.engine).add("county", PASSWORD, Role.OPERATOR, COUNTY)
    store.write_batch(batch(traveller(1, 1, "yellow")))
    store.write_batch(batch(traveller(2, 2, "red")))
    test, transfer = owed(store)
    sampled = (test["opened_at"] + timedelta(minutes=1)).astimezone(settings_for(None).zone).strftime("%Y-%m-%d %H:%M")
    csv = tmp_path / "results.csv"
    lines = [f"{synthetic_id(seq=1)},{sampled},阴性",  # and 3,000 people nobody owes a test
             *(f"{synthetic_id(region=str(120000 + n))},{sampled},阴性" for n in range(3000))]
    csv.write_text("身份证号,采样时间,检测结果\n" + "\n".join(lines) + "\n")
    with Server(settings_for(None), store) as server, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        log_in(page, server.url, "county", PASSWORD, "/worklist")
        expect(page.locator("h1")).to_contain_text("待办跟进")
        # Until the page's script runs, the button cannot send the form by itself (a reload that
        # loses the file: what a loaded machine showed, the click landing before the script).
        page.route("**/static/app.js", lambda route: route.abort())
        page.reload()
        expect(page.locator("#import-results")).to_be_disabled()
        page.unroute("**/static/app.js")
        page.reload()
        rows = page.locator("#worklist tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_have_attribute("data-obligation", str(transfer["id"]))  # 4 h before 24 h
        page.set_input_files("#results-file", str(csv))
        page.click("#import-results")
        expect(page.locator("#import-state")).to_contain_text("已办结落地检 1", timeout=30_000)
        expect(page.locator("#import-progress")).to_have_attribute("value", "3001")
        expect(page.locator("#import-errors li")).to_have_count(3000)
        page.screenshot(path=str(tmp_path / "worklist-import.png"))
        page.reload()
        expect(rows).to_have_count(1)
        page.fill(f'[data-testid="done-note-{transfer["id"]}"]', "已送达集中隔离点")
        page.click(f'[data-testid="done-{transfer["id"]}"]')
        expect(page.locator("#worklist-empty")).to_be_visible()
        page.goto(f"{server.url}/cases/{transfer['case_id']}")
        expect(page.locator("#case-obligations")).to_contain_text("已办结")
        expect(page.locator("#events")).to_contain_text("已送达集中隔离点")
        browser.close()
    store.dispose()
