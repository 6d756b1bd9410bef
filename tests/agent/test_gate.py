import time

import pytest
from gpiozero.pins.mock import MockFactory

from agent.gate import Gate, GateSettings
from contract.messages import Decision, Override
from tests.factories import verdict


@pytest.fixture
def gate() -> Gate:
    g = Gate(GateSettings(pin="GPIO17", open_s=0.2), pin_factory=MockFactory())
    yield g
    g.close()


def test_opens_on_pass_and_closes_by_itself(gate: Gate) -> None:
    gate.on_verdict(verdict())
    assert gate.is_open
    time.sleep(0.5)
    assert not gate.is_open


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
