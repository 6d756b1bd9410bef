"""The kiosk in headless Chromium: a box reading the three device simulators, driven as staff would.

Looks at the page as staff do: clicks, typed input, and the colours of screenshots.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from agent.app import Agent
from agent.config import AgentSettings
from agent.simulated_station import SimulatedStation, card_of
from agent.travellers import Traveller
from central.auth import Accounts, Role
from central.store import Store
from checkpoint.broker import Broker, free_port
from contract import topics
from contract.messages import CodeColour, Verdict
from tests import mqtt
from tests.browser import launch
from tests.central.conftest import PASSWORD, Server, add_places, settings_for
from tests.factories import CENTRAL_KEY

pytestmark = pytest.mark.browser
KIOSK_FLAGS = ["--autoplay-policy=no-user-gesture-required"]  # as deploy/kiosk/checkpoint-kiosk starts it


@dataclass
class Box:
    sim: SimulatedStation
    agent: Agent
    page: Page
    shots: Path
    broker: Broker
    code: str = ""  # the code the phone showed last

    def traveller(self, colour: CodeColour = CodeColour.GREEN, temps: tuple[float, ...] = (36.6,)) -> Traveller:
        return Traveller(name="测试乙", id_number="440524188001010014", colour=colour, temps_c=temps)

    def present(self, t: Traveller) -> None:
        self.sim.reader.present(card_of(t, datetime.now(UTC).date()))
        self.show_code(t)
        self.sim.thermometer.subject(t.temps_c[0])

    def show_code(self, t: Traveller) -> None:
        """The traveller's phone shows a code other than the last one (codes are signed to the second;
        the camera reports a code it saw a moment ago only once)."""
        fresh = mqtt.wait_until(lambda: (p := self.sim._payload(t)) != self.code and p, what="a fresh code")
        self.code = fresh
        self.sim.scene.show(fresh, t.colour)

    def step_away(self) -> None:
        """Nobody in front of the thermometer until it has sent a reading of the empty scene: the driver
        reads the port in order, so it sees the subject leave before anyone who steps up next."""
        sent = self.sim.thermometer.frames_sent
        self.sim.thermometer.nobody()
        mqtt.wait_until(lambda: self.sim.thermometer.frames_sent >= sent + 2, what="a reading of the empty scene")

    def leave(self) -> None:
        self.sim.reader.remove()
        self.sim.scene.clear()
        self.step_away()

    def screenshot_colour(self, name: str) -> np.ndarray:
        """The mean RGB of the verdict panel's centre, from a real screenshot."""
        png = self.page.screenshot(path=str(self.shots / f"{name}.png"))
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
        h, w, _ = image.shape
        return image[h // 3 : h // 2, w // 3 : 2 * w // 3].reshape(-1, 3).mean(axis=0)


@pytest.fixture
def box(tmp_path: Path, broker: Broker, request: pytest.FixtureRequest) -> Iterator[Box]:
    """A traffic box on the simulators and its kiosk page; `indirect` parameters add kiosk settings."""
    kiosk = {"port": free_port(), "venue_code": "https://venue.example/site-k", **getattr(request, "param", {})}
    settings = AgentSettings(
        site="site-k", device="box-k", kind="traffic",
        signing_key={"hex": "11" * 32}, pseudonym_key={"hex": "22" * 32}, central_key={"hex": CENTRAL_KEY},
        mqtt={"host": broker.host, "port": broker.port},
        outbox={"path": str(tmp_path / "outbox.sqlite")}, state_dir=str(tmp_path / "state"),
        kiosk=kiosk,
        passage_timeout_s=30, simulation={"workdir": str(tmp_path / "devices"), "seed": 3},
    )
    stop = threading.Event()
    with SimulatedStation(settings) as sim:
        wired = sim.wire(settings)
        agent = Agent(wired, sim.devices(wired))
        # no central here: no receipt ever drains the outbox, so the agent stops without waiting for one
        thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"drain_timeout_s": 0})
        thread.start()
        with sync_playwright() as pw:
            browser = launch(pw, *KIOSK_FLAGS)
            page = browser.new_page(viewport={"width": 800, "height": 480})
            mqtt.wait_until(lambda: agent.kiosk_port, timeout=10, what="the kiosk to start")
            page.goto(f"http://127.0.0.1:{agent.kiosk_port}/")
            yield Box(sim, agent, page, tmp_path, broker)
            browser.close()
        stop.set()
        thread.join(30)


def test_green_traveller_passes_in_green_and_override_turns_red(box: Box) -> None:
    page = box.page
    expect(page.get_by_test_id("link")).to_contain_text("在线", timeout=10_000)
    expect(page.get_by_test_id("tile-id")).to_have_text("等待…")
    box.present(box.traveller())
    expect(page.get_by_test_id("decision")).to_have_text("通行", timeout=20_000)
    expect(page.get_by_test_id("who")).to_contain_text("440***********0014")
    r, g, b = box.screenshot_colour("pass")
    assert g > 100 and g > r + 40 and g > b + 40, (r, g, b)

    page.get_by_test_id("btn-override").click()
    page.get_by_test_id("override-deny").check()
    page.get_by_test_id("override-reason").fill("证件与本人不符")
    page.get_by_test_id("override-ok").click()
    assert page.get_by_test_id("override-staff").evaluate("e => e.validity.valueMissing")  # who, first
    page.get_by_test_id("override-staff").fill("0231 王")
    with mqtt.collect(box.broker, topics.uplink("site-k", "box-k", "verdict")) as sent:
        page.get_by_test_id("override-ok").click()
        expect(page.get_by_test_id("decision")).to_have_text("禁止通行", timeout=10_000)
        overrides = []
        while not overrides:
            message = json.loads(sent.get(timeout=20).payload)
            overrides += [message["override"]] if message.get("override") else []
    assert overrides[0]["staff"] == "0231 王" and overrides[0]["reason"] == "证件与本人不符"
    expect(page.get_by_test_id("reasons")).to_contain_text("工作人员改判")
    r, g, b = box.screenshot_colour("override-deny")
    assert r > 130 and r > g + 60 and r > b + 60, (r, g, b)
    assert "440524188001010014" not in page.content()  # the page never holds a full ID number
    page.get_by_test_id("btn-override").click()  # the next override offers the same staff member
    expect(page.get_by_test_id("override-staff")).to_have_value("0231 王")


def test_fever_asks_for_a_remeasure_then_denies_with_the_follow_up(box: Box) -> None:
    page = box.page
    box.present(box.traveller(temps=(38.2, 38.4)))
    expect(page.get_by_test_id("remeasure-banner")).to_be_visible(timeout=20_000)
    box.step_away()
    box.sim.thermometer.subject(38.4)
    expect(page.get_by_test_id("decision")).to_have_text("禁止通行", timeout=20_000)
    expect(page.get_by_test_id("followup")).to_contain_text("转运至发热门诊")
    box.screenshot_colour("fever")


def test_red_code_and_the_english_switch(box: Box) -> None:
    page = box.page
    page.get_by_test_id("lang").click()
    box.present(box.traveller(colour=CodeColour.RED))
    expect(page.get_by_test_id("decision")).to_have_text("Deny", timeout=20_000)
    expect(page.get_by_test_id("followup")).to_contain_text("Transfer point-to-point to isolation")


def test_typed_id_is_validated_and_the_vehicle_applies(box: Box) -> None:
    page = box.page
    page.get_by_test_id("btn-vehicle").click()
    page.get_by_test_id("vehicle-plate").fill("粤B12345")
    page.get_by_test_id("vehicle-origin").fill("440305")
    page.get_by_test_id("vehicle-destination").fill("本区")
    page.get_by_test_id("vehicle-ok").click()
    expect(page.get_by_test_id("vehicle-now")).to_contain_text("粤B12345", timeout=5_000)

    page.get_by_test_id("btn-manual").click()
    page.get_by_test_id("manual-id").fill("110105194912310021")  # wrong check character
    page.get_by_test_id("manual-ok").click()
    expect(page.get_by_test_id("manual-error")).to_contain_text("check character")
    page.get_by_test_id("manual-id").fill("11010519491231002X")
    page.get_by_test_id("manual-name").fill("测试甲")
    page.get_by_test_id("manual-ok").click()
    expect(page.get_by_test_id("tile-id")).to_contain_text("110***********002X (手工)", timeout=5_000)
    box.show_code(box.traveller())
    box.sim.thermometer.subject(36.5)
    expect(page.get_by_test_id("decision")).to_have_text("通行", timeout=20_000)
    page.screenshot(path=str(box.shots / "typed.png"))


def test_offline_shows_the_waiting_verdicts(box: Box, broker: Broker) -> None:
    page = box.page
    expect(page.get_by_test_id("link")).to_contain_text("在线", timeout=10_000)
    broker.stop()
    expect(page.get_by_test_id("link")).to_contain_text("离线", timeout=15_000)
    box.present(box.traveller())
    expect(page.get_by_test_id("decision")).to_have_text("通行", timeout=20_000)
    expect(page.get_by_test_id("link")).to_contain_text("待上传 1", timeout=5_000)
    page.screenshot(path=str(box.shots / "offline.png"))
    broker.start()
    with mqtt.collect(broker, topics.uplink("site-k", "box-k", "verdict")) as verdicts:
        message = verdicts.get(timeout=20)  # sent on reconnect, marked as replayed
    assert ("replayed", "1") in message.properties.UserProperty
    expect(page.get_by_test_id("link")).to_contain_text("在线", timeout=15_000)
    # still pending: a verdict leaves the box only on central's receipt (no central in this test)
    expect(page.get_by_test_id("link")).to_contain_text("待上传 1")


def test_the_kiosk_answers_only_to_its_own_names(box: Box) -> None:
    """A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing from the kiosk."""
    url = f"http://127.0.0.1:{box.agent.kiosk_port}"
    assert httpx.get(f"{url}/api/state", headers={"Host": f"localhost:{box.agent.kiosk_port}"}).status_code == 200
    for host in ("evil.example", f"evil.example:{box.agent.kiosk_port}", "127.0.0.1.nip.example"):
        for method, path in (("GET", "/"), ("GET", "/api/state"), ("POST", "/api/remeasure")):
            answer = httpx.request(method, url + path, headers={"Host": host, "X-Kiosk": "1"})
            assert answer.status_code == 421, (host, path, answer.status_code)
    expect(box.page.get_by_test_id("link")).to_contain_text("在线", timeout=10_000)  # its own page still works


def test_a_traveller_registered_at_central_is_shown_as_registered(box: Box, tmp_path: Path) -> None:
    """The office imports the list at central; the push reaches the box through the real broker; the
    kiosk shows 已报备 → the destination's name, and the verdict carries the registration."""
    store = Store(f"sqlite:///{tmp_path / 'central.sqlite'}")
    store.migrate()
    add_places(store, {"420102": "江岸区", "420102001": "大智街道", "420102001003": "天声街社区"})
    Accounts(store.engine).add("admin", PASSWORD, Role.ADMIN)
    traveller = box.traveller()
    entry = {"id_number": traveller.id_number, "name": traveller.name, "destination": "420102001003",
             "expected": date.today().isoformat()}
    with Server(settings_for(box.broker, pseudonym_key="22" * 32), store) as central:  # the box's key
        answer = central.login("admin").post("/api/registrations", json={"entries": [entry]})
    assert answer.status_code == 200, answer.text
    lists = box.agent.downlinks.lists
    mqtt.wait_until(lambda: lists.registrations.version == answer.json()["version"], what="the list on the box")
    page = box.page
    with mqtt.collect(box.broker, topics.uplink("site-k", "box-k", "verdict")) as sent:
        box.present(traveller)
        expect(page.get_by_test_id("registered")).to_have_text("已报备 → 天声街社区", timeout=20_000)
        expect(page.get_by_test_id("decision")).to_have_text("通行")
        verdict = Verdict.model_validate_json(sent.get(timeout=10).payload)
    page.screenshot(path=str(box.shots / "registered.png"))
    assert verdict.inputs.registration is not None and verdict.inputs.registration.destination == "420102001003"
    assert verdict.inputs.travel is not None and verdict.inputs.travel.destination_code == "420102001003"
    assert "pre_registered" in verdict.reasons and "register_destination" not in verdict.follow_up
    store.dispose()
