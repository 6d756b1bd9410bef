"""The station thread with a real outbox, real driver events and the real health-code verifiers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.commands import ManualId, Override, Remeasure, SetVehicle
from agent.healthcode import keys, signed_format
from agent.healthcode.chain import HealthCodeSettings, build_chain
from agent.kiosk.state import KioskState, LinkView
from agent.outbox import Outbox, OutboxFull
from agent.passage import BoxIdentity, PassageMachine
from agent.policy import DEFAULT_POLICY, Policy
from agent.station import Lists, Recorder, Station
from contract import idnumber
from contract.messages import CheckpointKind, CodeColour, Decision, Reason, TravelInput, Verdict
from drivers.base import DeviceHealth, DeviceKind, HealthState
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import CardPresented
from drivers.thermo.events import TemperatureMeasured
from tests.mqtt import wait_until

POLICY = Policy.from_yaml(DEFAULT_POLICY)
ISSUER_KEY = keys.generate_key()
CHAIN = build_chain(HealthCodeSettings(issuer_keys={"test-issuer": [keys.public_key_text(ISSUER_KEY)]}))
CARD = synthetic_deck()[0]
TIMEOUT_S = 3.0  # the passage timeout


def code(colour: str, hours_left: float = 24) -> SimpleNamespace:
    """A scanned code as the camera reports it (text and screen colour)."""
    now = datetime.now(UTC)
    claims = signed_format.Claims(
        iss="test-issuer",
        sub="ab" * 8,
        col=colour,
        iat=int(now.timestamp()) - 60,
        exp=int((now + timedelta(hours=hours_left)).timestamp()),
    )
    return SimpleNamespace(text=signed_format.encode(claims, ISSUER_KEY), colour=CodeColour(colour))


def temp(body_c: float | None) -> TemperatureMeasured:
    return TemperatureMeasured(
        status="measured" if body_c is not None else "invalid",
        body_c=body_c,
        object_c=(body_c or 30.0) - 0.5,
        offset_c=0.5,
        ambient_c=25.0,
        background_c=26.0,
        protocol="gy-mcu",
        samples=4,
        plausible_min_c=34.0,
        plausible_max_c=42.5,
        measured_at=datetime.now(UTC),
    )


class Harness:
    """The station in its own thread, as the agent runs it, on a clock the test moves."""

    def __init__(self, tmp: Path, kind: CheckpointKind) -> None:
        self.outbox = Outbox(tmp / "outbox.sqlite").open(new_boot=True)
        self.lists = Lists()
        identity = BoxIdentity("site-a", "box-a", kind, b"p" * 32)
        recorder = Recorder(identity, b"s" * 32, self.outbox, lambda: POLICY, self.lists)
        self.verdicts: list[Verdict] = []
        self.states: list[KioskState] = []
        self.now = 1000.0  # the station's monotonic clock: time passes only when a test says so
        self.submitted = 0
        self.station = Station(
            recorder,
            PassageMachine(kind, lambda: POLICY, timeout_s=TIMEOUT_S),
            lambda text, colour: CHAIN.verify(text, colour),
            lambda: LinkView(online=True, outbox_depth=self.outbox.depth(), outbox_capacity=100, outbox_warning=False),
            on_state=self.states.append,
            on_verdict=self.verdicts.append,
            clock=lambda: self.now,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.station.run, args=(self.stop,))

    def feed(self, *events: object, expect: int = 1) -> list[Verdict]:
        """Submit `events`, wait until the station has handled every one, and return the verdicts they
        gave: exactly `expect` of them (so "no verdict" is checked after the station has run, not before)."""
        before = len(self.verdicts)
        for e in events:
            self.station.submit(e)  # type: ignore[arg-type]
            self.submitted += 1
        wait_until(lambda: self.station.handled >= self.submitted, timeout=10, what="the station to handle its events")
        got = self.verdicts[before:]
        assert len(got) == expect, got
        return got

    def tick(self, seconds: float, expect: int) -> list[Verdict]:
        """Let `seconds` pass on the station's clock, then have it look at the time (a device's health
        report: an event that is no input of the passage)."""
        self.now += seconds
        return self.feed(DeviceHealth(kind=DeviceKind.THERMO, name="thermo", state=HealthState.OK), expect=expect)


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, CheckpointKind.TRAFFIC)
    h.thread.start()
    yield h
    h.stop.set()
    h.thread.join()
    h.outbox.close()


def test_a_green_traveller_passes_and_the_kiosk_never_holds_a_full_id(traffic: Harness) -> None:
    (v,) = traffic.feed(CardPresented(card=CARD), code("green"), temp(36.6))
    assert v.decision is Decision.PASS and v.inputs.person.identity is None
    assert traffic.outbox.pending()[0].verdict_id == str(v.id)  # committed before it was shown
    shown = traffic.station.state.verdict
    assert shown is not None and shown.id == str(v.id) and shown.decision_words.zh == "通行"
    assert all(CARD.id_number not in s.model_dump_json() for s in traffic.states)
    assert idnumber.mask(CARD.id_number) in shown.model_dump_json()


def test_red_code_denies_with_its_follow_up_and_full_identity(traffic: Harness) -> None:
    (v,) = traffic.feed(CardPresented(card=CARD), code("red"), temp(36.6))
    assert v.decision is Decision.DENY
    assert v.inputs.person.identity is not None and v.inputs.person.identity.id_number == CARD.id_number
    assert [f.zh for f in traffic.station.state.verdict.follow_up] == ["点对点转运至隔离点", "立即报告指挥部"]


def test_fever_is_re_measured_then_confirmed(traffic: Harness) -> None:
    assert traffic.feed(CardPresented(card=CARD), code("green"), temp(37.9), expect=0) == []
    assert traffic.station.state.passage is not None and traffic.station.state.passage.remeasure
    (v,) = traffic.feed(temp(38.1))
    assert v.decision is Decision.DENY and Reason.FEVER_CONFIRMED in v.reasons


def test_an_implausible_reading_is_never_a_temperature(traffic: Harness) -> None:
    (v,) = traffic.feed(CardPresented(card=CARD), code("green"), temp(None), temp(None), temp(None))
    assert v.decision is Decision.REVIEW and v.inputs.temperature.body_c is None


def test_expired_card_and_code(traffic: Harness) -> None:
    expired = next(c for c in synthetic_deck() if c.expired(date.today()))
    (v,) = traffic.feed(CardPresented(card=expired), code("green", hours_left=-1), temp(36.5))
    assert v.decision is Decision.REVIEW
    assert {Reason.CARD_EXPIRED, Reason.CODE_EXPIRED} <= set(v.reasons)


def test_typed_id_and_vehicle_then_override(traffic: Harness) -> None:
    traffic.feed(SetVehicle(vehicle=TravelInput(plate="粤B12345", origin="440305", destination="本区")), expect=0)
    (v,) = traffic.feed(ManualId(id_number="11010519491231002x", name="测试甲"), code("yellow"), temp(36.4))
    assert v.decision is Decision.REVIEW and v.inputs.person.source == "typed"
    assert v.inputs.travel is not None and v.inputs.travel.plate == "粤B12345"
    (o,) = traffic.feed(Override(verdict_id=v.id, decision=Decision.PASS, reason="人工核验为绿码", staff=" 0231 王 "))
    assert o.decision is Decision.PASS and o.supersedes == v.id and Reason.STAFF_OVERRIDE in o.reasons
    assert o.override is not None and o.override.original is Decision.REVIEW
    assert o.override.staff == "0231 王"  # who overrode travels with the signed verdict
    assert o.seq == v.seq + 1


def test_watch_list_hit(traffic: Harness) -> None:
    traffic.lists.watchlist = frozenset({idnumber.pseudonym(b"p" * 32, CARD.id_number)})
    (v,) = traffic.feed(CardPresented(card=CARD), code("green"), temp(36.5))
    assert v.decision is Decision.DENY and Reason.WATCHLIST in v.reasons


def test_missing_code_closes_at_the_timeout_as_review(traffic: Harness) -> None:
    assert traffic.feed(CardPresented(card=CARD), temp(36.5), expect=0) == []
    assert traffic.tick(TIMEOUT_S - 0.1, expect=0) == []  # still waiting for the code
    traffic.now += 0.1
    wait_until(lambda: traffic.verdicts, timeout=10, what="the idle station to close the passage at the timeout")
    (v,) = traffic.verdicts
    assert v.decision is Decision.REVIEW and Reason.MISSING_CODE in v.reasons


def test_staff_remeasure_waits_for_another_reading(traffic: Harness) -> None:
    # staff doubt the first reading before the code is shown: without the re-measure the code would close the passage
    assert traffic.feed(CardPresented(card=CARD), temp(36.5), Remeasure(), code("green"), expect=0) == []
    assert traffic.station.state.passage is not None and traffic.station.state.passage.remeasure
    (v,) = traffic.feed(temp(36.7))
    assert v.decision is Decision.PASS
    assert v.inputs.temperature is not None
    assert (v.inputs.temperature.body_c, v.inputs.temperature.readings) == (36.7, 2)


def test_a_full_disk_shows_an_error_not_a_verdict(traffic: Harness) -> None:
    outbox = traffic.outbox
    outbox.db.execute(f"PRAGMA max_page_count = {outbox.db.execute('PRAGMA page_count').fetchone()[0] + 2}")
    for size in (3000, 100):  # fill what room is left, as a full SD card would
        with pytest.raises(OutboxFull):
            for n in range(5000):
                outbox.append(outbox.next_seq(), f"filler-{size}-{n}", False, "t", b"x" * size)
    assert traffic.feed(CardPresented(card=CARD), code("green"), temp(36.5), expect=0) == []
    state = traffic.station.state
    assert state.error is not None and "paper" in state.error and state.verdict is None
