"""The API over real HTTP: roles, CSRF on cookie sessions, exports, pushes to the real broker, and
the live feed served by a replica that did not ingest what it shows."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from openpyxl import load_workbook

from central import audit
from central.regions import WHOLE
from central.store import Store
from checkpoint.broker import Broker
from contract import idnumber, signing, topics
from contract.messages import PolicyPush, RiskAreasPush, WatchlistPush
from tests import mqtt
from tests.central.conftest import (
    KEY,
    PASSWORD,
    PSEUDONYM_KEY,
    Server,
    add_users,
    flagged,
    run_collector,
    settings_for,
    synthetic_id,
)
from tests.factories import verdict


def test_the_openapi_document_is_published(server: Server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").status_code == 303  # to the login: for users and scripts
    paths = server.login("viewer").get("/openapi.json").json()["paths"]
    for path in ("/api/verdicts", "/api/cases/{case_id}/actions", "/api/cases/{case_id}/unmask", "/api/devices",
                 "/api/figures/daily", "/api/watchlist", "/api/policy", "/api/risk-areas", "/api/feed",
                 "/api/exports/ledger.{fmt}"):
        assert path in paths


def test_roles_decide_who_may_do_what(server: Server) -> None:
    assert httpx.get(f"{server.url}/api/cases").status_code == 401
    viewer, operator, admin = (server.login(r) for r in ("viewer", "operator", "admin"))
    (case,) = viewer.get("/api/cases").json()
    step = {"action": "contact"}
    assert viewer.post(f"/api/cases/{case['id']}/actions", json=step).status_code == 403
    assert viewer.post(f"/api/cases/{case['id']}/unmask", json={"why": "x"}).status_code == 403
    assert operator.post(f"/api/cases/{case['id']}/actions", json=step).status_code == 204
    assert operator.post(f"/api/cases/{case['id']}/actions", json=step).status_code == 409  # already contacted
    assert operator.post("/api/risk-areas", json={"regions": ["420100"]}).status_code == 403
    assert admin.get("/api/audit").status_code == 200 and operator.get("/api/audit").status_code == 403
    identity = operator.post(f"/api/cases/{case['id']}/unmask", json={"why": "核对"}).json()["identity"]
    assert identity["id_number"] == synthetic_id(seq=21)
    assert synthetic_id(seq=21) not in viewer.get(f"/api/cases/{case['id']}").text
    (verdict_row,) = viewer.get("/api/verdicts", params={"flagged": True}).json()
    assert synthetic_id(seq=21) not in viewer.get(f"/api/verdicts/{verdict_row['id']}").text


def _page_login(server: Server, role: str) -> tuple[httpx.Client, str]:
    """Log in through the form, as a browser does; returns the client and the page's CSRF token."""
    client = server.client()
    form = client.get("/login").text
    login_token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": login_token})
    assert done.status_code == 303 and done.headers["location"] == "/"
    page = client.get("/cases").text
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_cookie_sessions_need_the_csrf_token_to_change_anything(server: Server) -> None:
    client, token = _page_login(server, "operator")
    case_id = client.get("/api/cases").json()[0]["id"]
    forged = client.post(f"/cases/{case_id}/action", data={"action": "close"})
    assert forged.status_code == 403
    wrong = client.post(f"/cases/{case_id}/action", data={"action": "close", "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert client.get(f"/api/cases/{case_id}").json()["status"] == "new"
    done = client.post(f"/cases/{case_id}/action", data={"action": "close", "csrf_token": token})
    assert done.status_code == 303
    assert client.get(f"/api/cases/{case_id}").json()["status"] == "closed"
    assert client.post("/api/risk-areas", json={"regions": []}, headers={"X-CSRF-Token": token}).status_code == 403


def test_a_login_form_from_elsewhere_is_refused(server: Server) -> None:
    client = server.client()
    done = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert done.headers["location"].startswith("/login?failed=1") and "cp_session" not in client.cookies


def test_exports_of_the_ledger_figures_and_cases(server: Server) -> None:
    viewer = server.login("viewer")
    day = viewer.get("/api/figures/daily").json()[-1]["day"]
    ledger = viewer.get("/api/exports/ledger.csv", params={"site": "site-a", "day": day})
    assert ledger.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(ledger.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["时间", "设备", "人员"] and len(table) == 3
    assert idnumber.mask(synthetic_id(seq=21)) in ledger.text and synthetic_id(seq=21) not in ledger.text
    viewer.cookies.set("cp_lang", "en")
    book = load_workbook(io.BytesIO(viewer.get("/api/exports/ledger.xlsx", params={"site": "site-a", "day": day})
                                    .content))
    sheet = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert sheet[0][:3] == ["Time", "Device", "Person"] and "Deny" in sheet[1] + sheet[2]
    figures = list(csv.reader(io.StringIO(viewer.get("/api/exports/figures.csv").content.decode("utf-8-sig"))))
    assert figures[1][1:4] == ["site-a", "2", "1"]
    cases = load_workbook(io.BytesIO(viewer.get("/api/exports/cases.xlsx").content)).active
    assert cases.max_row == 2


def _retained(broker: Broker, what: str) -> bytes:
    with mqtt.collect(broker, topics.broadcast(what)) as got:
        return bytes(got.get(timeout=5).payload)


def test_the_watchlist_is_pushed_to_the_boxes_as_pseudonyms(
    server: Server, broker: Broker, sqlite_store: Store
) -> None:
    admin = server.login("admin")
    ids = [synthetic_id(seq=n) for n in (31, 32)]
    upload = "身份证号\n" + "\n".join(ids) + "\n110105198001010000\n"
    answer = admin.post("/api/watchlist", files={"file": ("list.csv", upload.encode(), "text/csv")}).json()
    assert answer["entries"] == 2 and len(answer["rejected"]) == 1
    push = WatchlistPush.model_validate_json(_retained(broker, "watchlist"))
    assert push.pseudonyms == [idnumber.pseudonym(PSEUDONYM_KEY, n) for n in ids]
    assert push.version == answer["version"]
    (entry,) = audit.recent(sqlite_store.engine, WHOLE, action="push_watchlist")
    assert entry["username"] == "admin"


def test_risk_areas_and_policy_pushes_are_checked_first(server: Server, broker: Broker) -> None:
    from agent.policy import DEFAULT_POLICY

    admin = server.login("admin")
    assert admin.post("/api/risk-areas", json={"regions": ["4201"]}).status_code == 422
    assert admin.post("/api/risk-areas", json={"regions": ["420100", "310000"]}).status_code == 200
    assert RiskAreasPush.model_validate_json(_retained(broker, "risk_areas")).regions == ["310000", "420100"]
    import yaml

    document = yaml.safe_load(DEFAULT_POLICY.read_text()) | {"version": "office-2026.12"}
    refused = admin.post("/api/policy", json={"document": {**document, "fever_c": "hot"}})
    assert refused.status_code == 422 and "fever_c" in refused.json()["detail"]
    assert admin.post("/api/policy", json={"document": document}).json() == {"version": "office-2026.12"}
    assert PolicyPush.model_validate_json(_retained(broker, "policy")).document == document


@pytest.mark.postgres
def test_the_live_feed_shows_what_another_replica_stored(broker: Broker, pg_url: str) -> None:
    ingesting, serving = Store(pg_url), Store(pg_url)
    ingesting.migrate()
    ingesting.register_device("box-a", "site-a", "traffic", KEY.hex())
    add_users(ingesting)
    collector, stop, thread = run_collector(settings_for(broker), ingesting)
    try:
        with Server(settings_for(broker), serving) as replica_b:
            viewer = replica_b.login("viewer")
            with viewer.stream("GET", "/api/feed", timeout=20) as feed, mqtt.client(broker) as box:
                lines = feed.iter_lines()
                assert next(lines).startswith("retry:")
                wire = flagged(1, person=41)
                mqtt.publish(box, topics.uplink("site-a", "box-a", "verdict"), signing.sign(KEY, verdict(seq=2)))
                mqtt.publish(box, topics.uplink("site-a", "box-a", "verdict"), signing.sign(KEY, wire))
                event = [line for line in (next(lines) for _ in range(4)) if line][:3]
        assert event[1] == "event: flagged"
        data = json.loads(event[2].removeprefix("data: "))
        assert data["id"] == str(wire.id) and data["person"] == idnumber.mask(synthetic_id(seq=41))
        assert data["decision_text"] == "禁止通行" and data["case_id"] is not None
    finally:
        stop.set()
        thread.join(10)
        ingesting.dispose()
        serving.dispose()


def test_an_admin_cannot_lift_a_revocation_with_the_old_key(any_server: Server) -> None:
    admin = any_server.login("admin")
    box = {"device": "box-a", "site": "site-a", "kind": "traffic", "key_hex": KEY.hex()}
    assert admin.delete("/api/devices/box-a").status_code == 204
    refused = admin.post("/api/devices", json=box)
    assert refused.status_code == 409 and "new signing key" in refused.json()["detail"]
    assert next(d for d in admin.get("/api/devices").json() if d["device"] == "box-a")["revoked"]
    assert admin.post("/api/devices", json={**box, "key_hex": "cd" * 32}).status_code == 204
    assert not next(d for d in admin.get("/api/devices").json() if d["device"] == "box-a")["revoked"]


def test_the_office_reads_the_kiosk_words_for_every_code() -> None:
    """One vocabulary: every decision, reason, follow-up and code colour in contract.labels' words."""
    from central.i18n import tr
    from contract import labels

    for table in (labels.DECISIONS, labels.REASONS, labels.FOLLOW_UPS, labels.COLOURS):
        for code, (zh, en) in table.items():  # type: ignore[attr-defined]
            assert (tr("zh", code.value), tr("en", code.value)) == (zh, en)
