"""The station thread with a real outbox, real driver events and the real health-code verifiers."""

from __future__ import annotations

import threading
import time
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
from agent.passage import PassageMachine
from agent.policy import DEFAULT_POLICY, Policy
from agent.recorder import Lists, Recorder
from agent.station import Station
from agent.verdicts import BoxIdentity
from contract import idnumber
from contract.messages import CheckpointKind, CodeColour, Decision, Reason, TravelInput, Verdict
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import CardPresented
from drivers.thermo.events import TemperatureMeasured

POLICY = Policy.from_yaml(DEFAULT_POLICY)
ISSUER_KEY = keys.generate_key()
CHAIN = build_chain(HealthCodeSettings(issuer_keys={"test-issuer": [keys.public_key_text(ISSUER_KEY)]}))
CARD = synthetic_deck()[0]


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
    def __init__(self, tmp: Path, kind: CheckpointKind) -> None:
        self.outbox = Outbox(tmp / "outbox.sqlite").open(new_boot=True)
        self.lists = Lists()
        identity = BoxIdentity("site-a", "box-a", kind, b"p" * 32)
        recorder = Recorder(identity, b"s" * 32, self.outbox, lambda: POLICY, self.lists)
        self.verdicts: list[Verdict] = []
        self.states: list[KioskState] = []
        self.station = Station(
            recorder,
            PassageMachine(kind, lambda: POLICY, timeout_s=3),
            lambda text, colour: CHAIN.verify(text, colour),
            lambda: LinkView(online=True, outbox_depth=self.outbox.depth(), outbox_capacity=100, outbox_warning=False),
            on_state=self.states.append,
            on_verdict=self.verdicts.append,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.station.run, args=(self.stop,))

    def feed(self, *events: object, expect: int = 1) -> list[Verdict]:
        before = len(self.verdicts)
        for e in events:
            self.station.submit(e)  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while len(self.verdicts) < before + expect and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.verdicts[before:]


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
    time.sleep(0.3)
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
    traffic.station.submit(SetVehicle(vehicle=TravelInput(plate="粤B12345", origin="440305", destination="本区")))
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
    (v,) = traffic.feed(CardPresented(card=CARD), temp(36.5))
    assert v.decision is Decision.REVIEW and Reason.MISSING_CODE in v.reasons


def test_staff_remeasure_waits_for_another_reading(traffic: Harness) -> None:
    assert traffic.feed(CardPresented(card=CARD), code("green"), Remeasure(), expect=0) == []
    (v,) = traffic.feed(temp(36.7))
    assert v.decision is Decision.PASS


def test_a_full_disk_shows_an_error_not_a_verdict(traffic: Harness) -> None:
    outbox = traffic.outbox
    outbox.db.execute(f"PRAGMA max_page_count = {outbox.db.execute('PRAGMA page_count').fetchone()[0] + 2}")
    for size in (3000, 100):  # fill what room is left, as a full SD card would
        with pytest.raises(OutboxFull):
            for n in range(5000):
                outbox.append(outbox.next_seq(), f"filler-{size}-{n}", False, "t", b"x" * size)
    assert traffic.feed(CardPresented(card=CARD), code("green"), temp(36.5), expect=0) == []
    time.sleep(0.5)
    state = traffic.station.state
    assert state.error is not None and "paper" in state.error and state.verdict is None
