"""One box's page in headless Chromium, with a real agent sending its metrics every second: the
history drawn as small charts, and an admin asking the box for its diagnostics and reading the
answer on the page (which reloads itself until it comes). A viewer sees the charts, not the button."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from agent.app import Agent
from central import diagnostics
from central.sql import now
from central.store import Store
from checkpoint.broker import Broker
from tests import mqtt
from tests.central.conftest import PASSWORD, Server, add_users, run_collector, settings_for
from tests.central.test_dashboard_browser import CHROMIUM, has_colour
from tests.central.test_remote_diagnostics import box_settings, running

pytestmark = pytest.mark.browser
TREND = (0x1f, 0x3a, 0x5f)  # the line's colour (app.css)


@dataclass
class Office:
    page: Page
    server: Server
    agent: Agent
    shots: Path

    def login(self, role: str) -> None:
        self.page.goto(f"{self.server.url}/devices/box-a")
        self.page.fill("#username", role)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-button")
        expect(self.page.locator("h1")).to_contain_text("设备 box-a")

    def shot(self, name: str, selector: str) -> np.ndarray:
        png = self.page.locator(selector).screenshot(path=str(self.shots / f"{name}.png"))
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


@pytest.fixture
def office(tmp_path: Path, broker: Broker, sqlite_store: Store, caplog: pytest.LogCaptureFixture) -> Iterator[Office]:
    caplog.set_level(logging.INFO)
    add_users(sqlite_store)
    _collector, stop, thread = run_collector(settings_for(broker), sqlite_store)
    try:
        with (Server(settings_for(broker), sqlite_store) as server,
              running(box_settings(tmp_path, broker, metrics_interval_s=1)) as agent,
              sync_playwright() as pw):
            mqtt.wait_until(lambda: len(diagnostics.metrics_history(sqlite_store.engine, "box-a",
                                                                   now() - timedelta(hours=1))) >= 3,
                            what="three metrics messages stored", every=0.2)
            browser = pw.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-background-networking"])
            yield Office(browser.new_page(viewport={"width": 1280, "height": 900}), server, agent, tmp_path)
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_an_admin_reads_the_charts_and_asks_the_box_for_its_diagnostics(office: Office) -> None:
    page = office.page
    office.login("admin")
    page.click("#nav-devices")
    page.click("#device-box-a a")
    expect(page.locator("#device-state")).to_have_text("在线")
    for name in ("outbox_depth", "disk_free_mb"):  # what every box reports (no SoC sensor in a test machine)
        expect(page.locator(f"#chart-{name} polyline")).to_have_count(1)
    expect(page.locator("#chart-outbox_depth figcaption")).to_contain_text("待发送记录")
    assert has_colour(office.shot("device-charts", ".sparks"), TREND), "no line drawn"

    page.fill("#log-lines", "20")
    page.click("#ask-diagnostics")
    answer = page.locator("#diagnostics-1")
    expect(answer.locator(".answered")).to_be_visible(timeout=20_000)  # the page reloads itself until then
    expect(answer.locator("table.checks")).to_contain_text("clock")
    expect(answer.locator("td.check-ok").first).to_be_visible()
    expect(answer.locator("pre.logs")).to_contain_text("agent starting")
    office.shot("device-diagnostics", "#diagnostics-1")

    page.click("#lang")
    expect(page.locator("#chart-outbox_depth figcaption")).to_contain_text("Outbox depth")
    expect(answer.locator("h4")).to_contain_text("Latest log lines")


def test_a_viewer_sees_the_charts_but_cannot_ask(office: Office) -> None:
    office.login("viewer")
    expect(office.page.locator("#chart-outbox_depth polyline")).to_have_count(1)
    expect(office.page.locator("#ask-diagnostics")).to_have_count(0)
    expect(office.page.locator(".diagnostics")).to_have_count(0)
