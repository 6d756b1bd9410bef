"""Two offices in headless Chromium at once: a county's operator and the operator of one of its
townships. Each sees their own part of the region tree, of the live feed, of the cases and of the
ledger; the county sees the township's too, the township nothing of the rest of the county."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from central import regions
from central.auth import Accounts, Role
from central.store import Store
from checkpoint.broker import Broker
from contract import idnumber, signing, topics
from tests import mqtt
from tests.browser import launch
from tests.central.conftest import KEY, PASSWORD, Server, flagged, run_collector, settings_for, synthetic_id

pytestmark = pytest.mark.browser
GATES = {"east-gate": ("box-east", "390102"), "town-gate": ("box-town", "390102001"),
         "west-gate": ("box-west", "390103")}


@dataclass
class Offices:
    browser: Browser
    server: Server
    broker: Broker
    shots: Path

    def login(self, username: str) -> Page:
        page = self.browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{self.server.url}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        expect(page.locator("#me")).to_contain_text(username)
        return page

    def send(self, site: str, seq: int, person: int) -> None:
        box = GATES[site][0]
        with mqtt.client(self.broker) as client:
            mqtt.publish(client, topics.uplink(site, box, "verdict"),
                         signing.sign(KEY, flagged(seq, person=person, site=site, device=box)))


@pytest.fixture
def offices(tmp_path: Path, broker: Broker, sqlite_store: Store) -> Iterator[Offices]:
    with sqlite_store.engine.begin() as conn:
        regions.load_tree(conn, regions.WHOLE, regions.SAMPLE.read_bytes())
    for site, (box, node) in GATES.items():
        sqlite_store.register_device(box, site, "traffic", KEY.hex(), region=node)
    accounts = Accounts(sqlite_store.engine)
    accounts.add("county-op", PASSWORD, Role.OPERATOR, region="390102")
    accounts.add("town-op", PASSWORD, Role.OPERATOR, region="390102001")
    collector, stop, thread = run_collector(settings_for(broker), sqlite_store)
    try:
        with Server(settings_for(broker), sqlite_store) as server, sync_playwright() as pw:
            browser = launch(pw)
            yield Offices(browser, server, broker, tmp_path)
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_a_county_and_its_township_see_different_areas(offices: Offices) -> None:
    county, town = offices.login("county-op"), offices.login("town-op")
    expect(county.locator("#me")).to_contain_text("东湖县")
    expect(town.locator("#me")).to_contain_text("新华街道")
    for page in (county, town):
        expect(page.locator("#feed-state")).to_have_text("已连接", timeout=10_000)

    # live: the west county's arrival reaches neither, the county's own only the county, the
    # township's both; each arrives after the one before, so once the last shows the others would have
    offices.send("west-gate", 1, person=61)
    offices.send("east-gate", 1, person=62)
    offices.send("town-gate", 1, person=63)
    town_row = idnumber.mask(synthetic_id(seq=63))
    for page in (county, town):
        expect(page.locator("#feed tbody")).to_contain_text(town_row, timeout=15_000)
    expect(county.locator("#feed tbody")).to_contain_text(idnumber.mask(synthetic_id(seq=62)))
    expect(county.locator("#feed tbody tr")).to_have_count(2)
    expect(town.locator("#feed tbody tr")).to_have_count(1)
    for page in (county, town):
        expect(page.locator("#feed tbody")).not_to_contain_text("west-gate")
    county.screenshot(path=str(offices.shots / "county-feed.png"))
    town.screenshot(path=str(offices.shots / "town-feed.png"))

    for page, count in ((county, 2), (town, 1)):
        page.click("#nav-cases")
        expect(page.locator("#cases tbody tr")).to_have_count(count)
    expect(town.locator("#cases tbody")).to_contain_text("town-gate")
    expect(town.locator("#cases tbody")).not_to_contain_text("east-gate")

    county.click("#nav-ledger")
    expect(county.locator("#ledger-site option")).to_have_text(["east-gate", "town-gate"])
    town.click("#nav-ledger")
    expect(town.locator("#ledger-site option")).to_have_text(["town-gate"])

    county.click("#nav-regions")
    expect(county.locator("#regions tbody tr").first).to_contain_text("390102")
    expect(county.locator("#regions tbody")).to_contain_text("青山镇")  # a sibling of the township
    expect(county.locator("#regions tbody")).not_to_contain_text("西山县")
    town.click("#nav-regions")
    expect(town.locator("#regions tbody tr")).to_have_count(3)  # the township and its two communities
    expect(town.locator("#regions tbody")).not_to_contain_text("青山镇")
    town.screenshot(path=str(offices.shots / "town-regions.png"))

    # a case of the county's own checkpoint is not there for the township, however it is asked for
    county.click("#nav-cases")
    east_case = county.locator("#cases tbody tr", has_text="east-gate").locator("a").first.get_attribute("href")
    assert east_case is not None
    answer = town.goto(f"{offices.server.url}{east_case}")
    assert answer is not None and answer.status == 404
