"""Rollouts through central's API and pages: admins only, audited; the worker sends each wave's boxes
the signed update downlink on their own topic, moves on as their births say they updated, and
pauses by itself when a wave's failures pass the threshold."""

from __future__ import annotations

import queue
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import update

from central import audit
from central.regions import WHOLE
from central.releases import Releases
from central.rollouts import Rollouts
from central.schema import device_status
from central.store import Store
from checkpoint.broker import Broker
from contract import signing, topics
from contract.messages import UpdatePush
from tests import mqtt
from tests.browser import launch, log_in
from tests.central.conftest import PASSWORD, Server, add_users, settings_for
from tests.factories import DOWNLINK_KEY, status
from tests.updates.conftest import RELEASE_KEY, RELEASE_PUBLIC
from tests.updates.conftest import Releases as Built

BOXES = [f"box-{i}" for i in range(5)]


@pytest.fixture
def fleet(tmp_path: Path, broker: Broker, sqlite_store: Store, releases: Built) -> Iterator[tuple[Server, Rollouts]]:
    (tmp_path / "release.pub").write_text(RELEASE_PUBLIC)
    settings = settings_for(broker, release_key_file=tmp_path / "release.pub", releases_dir=tmp_path / "kept")
    Releases(sqlite_store.engine, settings.releases_dir, RELEASE_KEY.public_key).add(releases["0.9.2"], "cli:x")
    for device in BOXES:
        sqlite_store.register_device(device, "site-r", "traffic", (b"r" * 32).hex())
        sqlite_store.write_batch(_birth(device, "0.9.1"))
    add_users(sqlite_store)
    with Server(settings, sqlite_store) as server:
        yield server, Rollouts(sqlite_store.engine, settings.mqtt, settings.downlink_signer)


def _birth(device: str, software: str, update: dict[str, str] | None = None, order: int = 1) -> Any:
    from central.intake import status_row
    from central.store import Batch

    report = status(device=device, site="site-r", order=order).model_copy(update={
        "software": software, **({"update_state": update["state"], "update_version": update["version"],
                                  "update_reason": update["reason"]} if update else {})})
    return Batch(reports=[status_row(report)])


def said(store: Store, device: str, software: str, update: dict[str, str] | None = None) -> None:
    """A box's newest birth, as the collector would have stored it."""
    with store.engine.begin() as conn:
        conn.execute(update_status(device, software, update))


def update_status(device: str, software: str, changes: dict[str, str] | None) -> Any:
    return update(device_status).where(device_status.c.device == device).values(
        software=software, software_update=changes)


def test_only_admins_start_rollouts_and_every_action_is_audited(fleet: tuple[Server, Rollouts],
                                                                sqlite_store: Store) -> None:
    server, _ = fleet
    order = {"version": "0.9.2", "target": {"site": "site-r"}, "canaries": 1, "wave_size": 2}
    for role in ("viewer", "operator"):
        assert server.login(role).post("/api/rollouts", json=order).status_code == 403
    admin = server.login("admin")
    assert admin.post("/api/rollouts", json={**order, "version": "7.7.7"}).status_code == 422
    got = admin.post("/api/rollouts", json={**order, "target": {"site": "nowhere"}})
    assert got.status_code == 422, got.text
    assert admin.post("/api/rollouts", json={**order, "max_failed_percent": 101}).status_code == 422
    rollout = admin.post("/api/rollouts", json=order).json()["id"]
    (listed,) = admin.get("/api/rollouts").json()
    assert listed["state"] == "running" and [len(w) for w in listed["waves"]] == [1, 2, 2]
    assert server.login("operator").post(f"/api/rollouts/{rollout}/pause").status_code == 403
    assert admin.post(f"/api/rollouts/{rollout}/pause").status_code == 204
    assert admin.post(f"/api/rollouts/{rollout}/pause").status_code == 409  # already paused
    assert admin.post(f"/api/rollouts/{rollout}/resume").status_code == 204
    assert admin.post(f"/api/rollouts/{rollout}/cancel").status_code == 204
    actions = [e["action"] for e in audit.recent(sqlite_store.engine, WHOLE) if e["action"].startswith("rollout_")]
    assert actions == ["rollout_cancel", "rollout_resume", "rollout_pause", "rollout_start"]


def test_waves_go_out_as_boxes_update_and_a_failing_wave_pauses(fleet: tuple[Server, Rollouts], broker: Broker,
                                                                 sqlite_store: Store) -> None:
    server, rollouts = fleet
    admin = server.login("admin")
    rollout = admin.post("/api/rollouts", json={"version": "0.9.2", "target": {"site": "site-r"}, "canaries": 1,
                                                 "wave_size": 2,
                                                 "max_failed_percent": 40}).json()["id"]
    waves = admin.get("/api/rollouts").json()[0]["waves"]
    with mqtt.collect(broker, topics.downlink("+", "+", "update")) as got:
        rollouts.tick()
        (canary,) = waves[0]
        message = got.get(timeout=10)
        assert message.topic == topics.downlink("site-r", canary, "update")
        with mqtt.collect(broker, message.topic) as later:  # a box that connects later still gets it
            assert later.get(timeout=10).retain
        push = signing.opened(DOWNLINK_KEY.public_key(), message.payload, UpdatePush)
        assert (push.version, push.rollout) == ("0.9.2", rollout)
        rollouts.tick()
        assert got.empty()  # the canary has not said anything yet: nothing more goes out
        said(sqlite_store, canary, "0.9.2", {"state": "updated", "version": "0.9.2", "reason": ""})
        rollouts.tick()
        assert sent_to(got, len(waves[1])) == sorted(waves[1])
        first, second = waves[1]
        said(sqlite_store, first, "0.9.1", {"state": "failed", "version": "0.9.2", "reason": "no space left"})
        rollouts.tick()  # 1 of 2 failed: 50% is past 40%
    (row,) = admin.get("/api/rollouts").json()
    assert row["state"] == "paused" and row["reason"] == f"wave 1: 1 of 2 failed ({first})"
    boxes = {b["device"]: b for b in admin.get(f"/api/rollouts/{rollout}").json()}
    assert boxes[canary]["state"] == "updated" and boxes[first]["state"] == "failed"
    assert boxes[first]["reason"] == "no space left" and boxes[second]["state"] == "sent"
    entries = audit.recent(sqlite_store.engine, WHOLE)
    assert any(e["action"] == "rollout_paused" and e["username"] == "central" for e in entries)
    page = admin.get("/devices").text
    assert "已暂停" in page and "no space left" in page and "升级失败" in page  # Chinese first

    admin.post(f"/api/rollouts/{rollout}/resume")  # the admin accepts the failure and goes on
    said(sqlite_store, second, "0.9.2", {"state": "updated", "version": "0.9.2", "reason": ""})
    with mqtt.collect(broker, topics.downlink("+", "+", "update")) as got:
        rollouts.tick()
        assert sent_to(got, len(waves[2])) == sorted(waves[2])
    for device in waves[2]:
        said(sqlite_store, device, "0.9.2", {"state": "updated", "version": "0.9.2", "reason": ""})
    rollouts.tick()
    assert admin.get("/api/rollouts").json()[0]["state"] == "done"


def sent_to(got: queue.Queue[Any], count: int) -> list[str]:
    """The boxes of the next `count` update downlinks published now (not the retained ones of before)."""
    devices: list[str] = []
    while len(devices) < count:
        message = got.get(timeout=10)
        if not message.retain:
            devices.append(topics.parse_uplink(message.topic.replace("/down/update", "/status")).device)  # type: ignore[union-attr]
    return sorted(devices)


def test_the_devices_page_starts_a_rollout_for_admins_only(fleet: tuple[Server, Rollouts]) -> None:
    server, _ = fleet
    viewer = server.login("viewer")
    assert 'id="new-rollout"' not in viewer.get("/devices").text
    admin = server.client()
    login = admin.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    admin.post("/login", data={"username": "admin", "password": "correct-horse-battery",
                               "csrf_token": token.group(1)})
    page = admin.get("/devices").text
    assert 'id="new-rollout"' in page and "0.9.2" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "version": "0.9.2", "site": "site-r", "devices": "box-1, box-2",
            "percent": "100", "canaries": "0", "wave_size": "5", "max_failed_percent": "0"}
    assert admin.post("/rollouts", data={**form, "csrf_token": "forged"}).status_code == 403
    done = admin.post("/rollouts", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/devices#rollouts"
    (row,) = server.login("admin").get("/api/rollouts").json()
    assert row["waves"] == [["box-1", "box-2"]] and row["target"]["devices"] == ["box-1", "box-2"]
    assert admin.post("/rollouts", data={**form, "percent": "0"}).status_code == 422


@pytest.mark.browser
def test_an_admin_starts_pauses_resumes_and_cancels_a_rollout_in_chromium(
    fleet: tuple[Server, Rollouts], broker: Broker, tmp_path: Path
) -> None:
    """The devices page's rollout form and buttons as an admin uses them, in a real browser; the first
    wave's update reaches its canary over the broker."""
    server, rollouts = fleet
    with sync_playwright() as pw, mqtt.collect(broker, topics.downlink("site-r", "+", "update")) as pushes:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(page, server.url, "admin", PASSWORD, "/devices")
        form = page.locator("#new-rollout")
        form.locator("select[name=version]").select_option("0.9.2")
        form.locator("input[name=site]").fill("site-r")
        form.locator("input[name=canaries]").fill("1")
        form.locator("input[name=wave_size]").fill("2")
        page.click("#start-rollout")
        expect(page).to_have_url(f"{server.url}/devices#rollouts")
        row = page.locator("#rollout-list tr.rollout")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-state", "running")
        expect(row.locator(".rollout-state")).to_have_text("进行中")
        expect(row).to_contain_text("1 / 3")  # one canary, then two waves of two
        rollouts.tick()  # central's rollout loop, once
        canary = pushes.get(timeout=10)
        assert signing.opened(DOWNLINK_KEY.public_key(), canary.payload, UpdatePush).version == "0.9.2"
        for button, state, shown in (("pause", "paused", "已暂停"), ("resume", "running", "进行中"),
                                     ("cancel", "cancelled", "已取消")):
            row.locator(f"button.rollout-{button}").click()
            expect(row).to_have_attribute("data-state", state)
            expect(row.locator(".rollout-state")).to_have_text(shown)
        expect(row.locator("button")).to_have_count(0)  # nothing left to do with a cancelled rollout
        page.screenshot(path=str(tmp_path / "rollouts.png"), full_page=True)
        browser.close()
