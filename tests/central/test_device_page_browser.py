"""One box's page in headless Chromium, with a real agent sending its metrics every second: the
history drawn as small charts, and an admin asking the box for its diagnostics and reading the
answer on the page (which reloads itself until it comes). A viewer sees the charts, not the button."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from central import diagnostics
from central.sql import now
from checkpoint.broker import Broker
from tests import mqtt
from tests.central.test_dashboard_browser import Office, has_colour
from tests.central.test_dashboard_browser import office as office  # the dashboard's fixture
from tests.central.test_remote_diagnostics import box_settings, running

pytestmark = pytest.mark.browser
TREND = (0x1f, 0x3a, 0x5f)  # the line's colour (app.css)


@pytest.fixture
def box(office: Office, tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """box-a running beside the office's central, its metrics every second; three of them stored."""
    caplog.set_level(logging.INFO)
    with running(box_settings(tmp_path, broker, metrics_interval_s=1)):
        mqtt.wait_until(lambda: len(diagnostics.metrics_history(office.store.engine, "box-a",
                                                               now() - timedelta(hours=1))) >= 3,
                        what="three metrics messages stored", every=0.2)
        yield


def test_an_admin_reads_the_charts_and_asks_the_box_for_its_diagnostics(office: Office, box: None) -> None:
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


def test_a_viewer_sees_the_charts_but_cannot_ask(office: Office, box: None) -> None:
    office.login("viewer")
    office.page.goto(f"{office.server.url}/devices/box-a")
    expect(office.page.locator("#chart-outbox_depth polyline")).to_have_count(1)
    expect(office.page.locator("#ask-diagnostics")).to_have_count(0)
    expect(office.page.locator(".diagnostics")).to_have_count(0)
