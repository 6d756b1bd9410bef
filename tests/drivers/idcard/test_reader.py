"""The poll loop against the simulator on a real pseudo-terminal: presentations, faults, unplugging."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from drivers.base import DeviceHealth, DeviceKind, HealthState
from drivers.idcard.cards import IdCard
from drivers.idcard.codec import Command
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import CardPresented, IdCardConfig, IdCardReader
from drivers.idcard.simulator import Fault, IdCardSimulator
from drivers.sim.paced import PacedLine
from tests.drivers.idcard.helpers import Collected, fast_config, running

DECK = synthetic_deck()


def as_read(card: IdCard) -> IdCard:
    """What a plain read (30 01) returns: no fingerprints."""
    return card.model_copy(update={"fingerprints": b""})


def present_and_read(sim: IdCardSimulator, events: Collected, card: IdCard) -> CardPresented:
    sim.present(card)
    event = events.next_card()
    sim.remove()
    return event


def test_one_event_per_presentation_and_none_while_the_card_stays(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path, name="desk-1")) as events:
        health = events.next_health(HealthState.OK)
        assert (health.kind, health.name) == (DeviceKind.IDCARD, "desk-1")
        sim.present(DECK[0])
        first = events.next_card()
        assert first.card == as_read(DECK[0]) and first.device == "desk-1"
        later = events.after_polls(sim)  # the card stays on the reader; find answers 80 again and again
        assert not [e for e in later if isinstance(e, CardPresented)]
        sim.remove()
        sim.present(DECK[0])  # taken away and put back: a new presentation
        assert events.next_card().card == as_read(DECK[0])


STEPS = (Command.FIND, Command.SELECT, Command.READ)
ONLY_ON = {Fault.NO_CARD: Command.FIND, Fault.READ_FAILURE: Command.READ}
FAULT_CASES = [(fault, on) for fault in Fault for on in STEPS if ONLY_ON.get(fault, on) is on]


@pytest.mark.parametrize(("fault", "on"), FAULT_CASES, ids=[f"{f.value}-on-{c.name}" for f, c in FAULT_CASES])
def test_the_loop_recovers_from_each_fault(sim: IdCardSimulator, fault: Fault, on: Command) -> None:
    with running(fast_config(sim.path)) as events:
        events.next_health(HealthState.OK)
        sim.present(DECK[4])
        sim.inject(fault, on=on)
        assert events.next_card().card == as_read(DECK[4])
        sim.remove()
        assert not [e for e in events.after_polls(sim) if isinstance(e, CardPresented)]


def test_every_card_type_with_fingerprints_and_appended_address(sim: IdCardSimulator) -> None:
    config = fast_config(sim.path, fingerprints=True, newest_address=True)
    with running(config) as events:
        for card in DECK:
            moved = card.model_copy(update={"newest_address": "浙江省杭州市西湖区示例路 5 号"})
            assert present_and_read(sim, events, moved).card == moved
        assert sim.commands["READ_WITH_FINGERPRINTS"] == len(DECK)


def test_failing_reads_make_the_reader_degraded_then_ok(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path, read_attempts=1)) as events:
        events.next_health(HealthState.OK)
        sim.inject(Fault.READ_FAILURE, times=4)
        sim.present(DECK[0])
        degraded = events.next_health(HealthState.DEGRADED)
        assert "41" in degraded.detail and "read failed" in degraded.detail
        assert events.next_card().card == as_read(DECK[0])  # the fifth read succeeds
        events.next_health(HealthState.OK)


def test_a_silent_module_is_reported_and_reset_when_it_answers(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path, reply_timeout_s=0.1, silent_after=2)) as events:
        events.next_health(HealthState.OK)
        resets = sim.commands["RESET"]
        sim.silent = True
        assert "does not answer" in events.next_health(HealthState.DISCONNECTED).detail
        sim.silent = False
        events.next_health(HealthState.OK)
        assert sim.commands["RESET"] > resets
        assert present_and_read(sim, events, DECK[7]).card == as_read(DECK[7])


def test_unplug_and_replug(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path)) as events:
        events.next_health(HealthState.OK)
        sim.unplug()
        assert "port" in events.next_health(HealthState.DISCONNECTED).detail
        events.drain(0.3)  # a few reconnection attempts against a dangling path
        sim.plug()
        events.next_health(HealthState.OK)
        assert present_and_read(sim, events, DECK[9]).card == as_read(DECK[9])


def test_a_reader_that_is_not_there_yet(tmp_path: Path) -> None:
    link = tmp_path / "late"
    with running(fast_config(str(link))) as events:
        events.next_health(HealthState.DISCONNECTED)
        with IdCardSimulator(link) as sim:
            events.next_health(HealthState.OK)
            assert present_and_read(sim, events, DECK[5]).card == as_read(DECK[5])


def test_the_constructor_does_no_io_and_stop_ends_run(tmp_path: Path) -> None:
    reader = IdCardReader(IdCardConfig(port=str(tmp_path / "nothing")))  # no port, no error
    stop = threading.Event()
    stop.set()
    reader.run(lambda event: None, stop)  # returns at once


def run_presentations(sim: IdCardSimulator, events: Collected, count: int, fault_rate: float) -> int:
    """`count` presentations of mixed cards, a fault injected into `fault_rate` of them."""
    rng = random.Random(467)
    faults = 0
    for i in range(count):
        card = DECK[rng.randrange(len(DECK))].model_copy(update={"name": f"样本{i}"})
        sim.present(card)
        if rng.random() < fault_rate:
            fault = rng.choice(list(Fault))
            on = ONLY_ON.get(fault, rng.choice(STEPS))
            sim.inject(fault, on=on)
            faults += 1
        event = events.next_card()
        assert event.card == as_read(card), f"presentation {i}"
        sim.remove()
    return faults


def check_no_duplicates(sim: IdCardSimulator, events: Collected, count: int) -> None:
    events.after_polls(sim)
    names = [e.card.name for e in events.seen if isinstance(e, CardPresented)]
    assert len(names) == count and len(set(names)) == count


def test_100_mixed_presentations_with_10_percent_faults(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path)) as events:
        assert run_presentations(sim, events, 100, 0.10) > 0
        check_no_duplicates(sim, events, 100)


@pytest.mark.slow
def test_1000_mixed_presentations_with_10_percent_faults(sim: IdCardSimulator) -> None:
    with running(fast_config(sim.path)) as events:
        faults = run_presentations(sim, events, 1000, 0.10)
        check_no_duplicates(sim, events, 1000)
        assert 60 < faults < 140
        assert not [e for e in events.seen if isinstance(e, DeviceHealth) and e.state is not HealthState.OK]


@pytest.mark.parametrize("baud", [115200, 9600])
def test_reads_over_a_line_at_real_speed_split_anywhere_and_noisy(
    sim: IdCardSimulator, tmp_path: Path, baud: int
) -> None:
    """The 1,295-byte read takes 1.35 s at 9600 baud and arrives in pieces; noise on the line while no
    card is there is reported (garbled replies: DEGRADED; cut ones: silent, DISCONNECTED), and the
    reader is OK again and reads the next card once it stops."""
    with (
        PacedLine(sim.path, tmp_path / "paced", baud, seed=baud) as line,
        running(fast_config(line.path, baud=baud, read_timeout_s=2.0)) as events,
    ):
        events.next_health(HealthState.OK)
        for card in DECK[:2]:
            assert present_and_read(sim, events, card).card == as_read(card)
        line.noise = 0.05
        events.next_trouble()
        line.noise = 0.0
        events.next_health(HealthState.OK)
        assert present_and_read(sim, events, DECK[2]).card == as_read(DECK[2])
    assert line.flipped + line.dropped > 0
