"""The office's dashboard in headless Chromium: log in, watch a flagged arrival appear live, work
its case through the workflow, unmask it, look at the fleet and the figures, push a watch-list,
switch to English. Clicks and screenshots, as the office uses it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from central import audit
from central.regions import WHOLE
from central.store import Store
from checkpoint.broker import Broker
from contract import idnumber, signing, topics
from contract.messages import Reason
from tests import mqtt
from tests.browser import launch
from tests.central.conftest import KEY, PASSWORD, Server, add_users, flagged, run_collector, settings_for, synthetic_id
from tests.factories import verdict

pytestmark = pytest.mark.browser
TOPIC = topics.uplink("site-a", "box-a", "verdict")


@dataclass
class Office:
    page: Page
    server: Server
    store: Store
    broker: Broker
    shots: Path

    def login(self, role: str) -> None:
        self.page.goto(f"{self.server.url}/cases")
        expect(self.page).to_have_url(f"{self.server.url}/login?next=/cases")
        self.page.fill("#username", role)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-button")
        expect(self.page.locator("h1")).to_have_text("异常人员处置")

    def shot(self, name: str, selector: str | None = None) -> np.ndarray:
        target = self.page.locator(selector) if selector else self.page
        png = target.screenshot(path=str(self.shots / f"{name}.png"))
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)

    def send(self, *verdicts: object) -> None:
        with mqtt.client(self.broker) as box:
            for v in verdicts:
                mqtt.publish(box, TOPIC, signing.sign(KEY, v))  # type: ignore[arg-type]


@pytest.fixture
def office(tmp_path: Path, broker: Broker, sqlite_store: Store) -> Iterator[Office]:
    add_users(sqlite_store)
    collector, stop, thread = run_collector(settings_for(broker), sqlite_store)
    try:
        with Server(settings_for(broker), sqlite_store) as server, sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            yield Office(page, server, sqlite_store, broker, tmp_path)
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def has_colour(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    return bool((np.abs(image - np.array(rgb)).max(axis=2) <= tolerance).any())


def test_a_flagged_arrival_goes_live_and_through_its_case(office: Office) -> None:
    page = office.page
    office.login("admin")
    page.click("#nav-feed")
    expect(page.locator("#feed-state")).to_have_text("已连接", timeout=10_000)
    office.send(verdict(seq=1), flagged(2, person=51))
    row = page.locator("#feed tbody tr").first
    expect(row).to_contain_text(idnumber.mask(synthetic_id(seq=51)), timeout=15_000)  # pushed, not reloaded
    expect(row).to_contain_text("红码")
    expect(row.locator("td.deny")).to_have_text("禁止通行")  # the kiosk's word (contract.labels)
    image = office.shot("feed")
    assert has_colour(image, (0xc5, 0x22, 0x1f)), "the deny verdict is not shown in red"
    assert synthetic_id(seq=51) not in page.content()

    row.locator("a").click()
    expect(page.locator("#case-status")).to_have_text("新建")
    case_url = page.url
    expect(page.locator("#first-site")).to_contain_text("site-a / box-a")
    page.click("#do-contact")
    expect(page.locator("#case-status")).to_have_text("已联系")
    page.select_option("#transfer-kind", "fever_clinic")
    page.fill("#transfer-to", "市第一医院发热门诊")
    page.click("#do-transfer")
    expect(page.locator("#case-status")).to_have_text("已转运")
    expect(page.locator("#transfer")).to_have_text("转运至发热门诊: 市第一医院发热门诊")
    page.fill("#assignee-input", "王医生")
    page.click("#do-assign")
    expect(page.locator("#assignee")).to_have_text("王医生")
    page.fill("#unmask-why", "转运交接核对身份")
    page.click("#do-unmask")
    expect(page.locator("#id-number")).to_have_text(synthetic_id(seq=51))
    office.shot("case-unmasked")
    (entry,) = audit.recent(office.store.engine, WHOLE, action="unmask")
    assert entry["username"] == "admin" and entry["detail"] == "转运交接核对身份"
    page.goto(case_url)  # the identity is shown once, in the answer to the audited request
    expect(page.locator("#identity")).to_have_count(0)
    page.click("#do-close")
    expect(page.locator("#case-status")).to_have_text("已结案")
    expect(page.locator("#events tbody tr")).to_have_count(6)  # opened, contact, transfer, assign, unmask, close

    page.click("#lang")
    expect(page.locator("#case-status")).to_have_text("Closed")
    page.click("#nav-cases")
    page.click("#filter-closed")
    expect(page.locator("#cases tbody tr")).to_have_count(1)
    expect(page.locator("#cases tbody tr")).to_contain_text("Closed")


def test_fleet_figures_and_the_watch_list(office: Office, tmp_path: Path) -> None:
    page = office.page
    office.send(*[verdict(seq=s) for s in (1, 2, 5)], flagged(6, person=52), flagged(7, person=53,
                reason=Reason.CODE_YELLOW))
    mqtt.wait_until(lambda: office.store.counts()["stored"] == 5, what="five verdicts")
    office.login("admin")

    page.click("#nav-devices")
    device = page.locator("#device-box-a")
    expect(device).to_contain_text("在线")
    expect(device.locator(".gaps")).to_have_text("3–4")
    office.shot("devices")

    page.click("#nav-figures")
    expect(page.locator("#figures tbody tr")).to_have_count(1)
    expect(page.locator("#chart rect")).to_have_count(3)  # passed, review, deny of today
    chart = office.shot("figures-chart", "#chart")
    for colour in ((0x81, 0xc9, 0x95), (0xfb, 0xbc, 0x04), (0xee, 0x67, 0x5c)):
        assert has_colour(chart, colour), colour

    page.click("#nav-ledger")
    expect(page.locator("#ledger tbody tr")).to_have_count(5)

    page.click("#nav-lists")
    csv_file = tmp_path / "协查名单.csv"
    csv_file.write_text("姓名,身份证号\n甲," + synthetic_id(seq=61) + "\n乙,123\n", encoding="utf-8")
    page.set_input_files("#watchlist-file", str(csv_file))
    page.click("#push-watchlist")
    expect(page.locator("#push-done")).to_contain_text(": 1")
    expect(page.locator("#rejected li")).to_have_count(1)
    expect(page.locator("#pushes tbody tr")).to_have_count(1)
    office.shot("lists")


def test_a_viewer_sees_but_cannot_act(office: Office) -> None:
    office.send(flagged(1, person=54))
    mqtt.wait_until(lambda: office.store.counts()["stored"] == 1, what="the verdict")
    office.login("viewer")
    office.page.click(".case-link")
    expect(office.page.locator("#case-status")).to_have_text("新建")
    expect(office.page.locator("#do-contact")).to_have_count(0)
    expect(office.page.locator("#do-unmask")).to_have_count(0)
    office.page.goto(f"{office.server.url}/audit")
    expect(office.page.locator("#error")).to_contain_text("权限不足")
