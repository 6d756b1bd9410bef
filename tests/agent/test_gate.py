from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from agent.gate import Gate, GateSettings
from contract.messages import Decision, Override
from tests.factories import verdict
from tests.mqtt import wait_until


def make_gate(open_s: float) -> tuple[Gate, MockFactory]:
    factory = MockFactory()
    return Gate(GateSettings(pin="GPIO17", open_s=open_s), pin_factory=factory), factory


@pytest.fixture
def gate() -> Iterator[Gate]:
    g, _ = make_gate(open_s=60)  # stays open for as long as any test here looks
    yield g
    g.close()


def test_opens_on_pass_and_closes_by_itself() -> None:
    gate, factory = make_gate(open_s=0.2)
    try:
        gate.on_verdict(verdict())
        wait_until(lambda: not gate.is_open, timeout=10, what="the gate to close by itself")
        # the relay's history: shut, opened by the pass, shut again (by its timer: nothing else was called)
        assert [s.state for s in factory.pin(17).states] == [False, True, False]
    finally:
        gate.close()


@pytest.mark.parametrize("decision", [Decision.REVIEW, Decision.DENY])
def test_stays_shut_unless_pass(gate: Gate, decision: Decision) -> None:
    gate.on_verdict(verdict(decision=decision))
    assert not gate.is_open


def test_staff_override_to_pass_opens_and_to_deny_shuts(gate: Gate) -> None:
    over = Override(original=Decision.REVIEW, decision=Decision.PASS, reason="checked by hand")
    gate.on_verdict(verdict(decision=Decision.PASS, override=over))
    assert gate.is_open
    gate.on_verdict(verdict(decision=Decision.DENY))
    assert not gate.is_open
