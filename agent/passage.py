"""Grouping what the devices report into passages: one traveller at the station.

Theory of operation (pure: inputs and the time come in, closed passages go out, no I/O):
- A passage opens on the first input (a card, a code, a temperature) and closes when every input
  the checkpoint kind requires is there and the policy asks for no re-measure — or at the timeout
  after its last input, with what it has (the policy turns missing inputs into `review`).
- It never mixes two travellers: a different card, or a different code where one was already
  shown, closes the open passage and opens a new one with the new input.
- Staff can ask for a re-measure; the passage then waits for one more temperature.
- At traffic checkpoints staff register the vehicle (plate, origin, destination) once; it applies
  to every passage until the next vehicle.
Every method that can close passages returns their facts, oldest first, for the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.facts import CodeFacts, PassageFacts, PersonFacts, TempReading
from agent.policy import Input, Policy
from contract.messages import CheckpointKind, TravelInput


@dataclass
class Passage:
    opened_at: float
    last_input_at: float
    person: PersonFacts | None = None
    code: CodeFacts | None = None
    code_key: str | None = None  # identifies the code shown (its text), to tell travellers apart
    temps: list[TempReading] = field(default_factory=list)
    remeasure_asked: bool = False  # by staff: wait for one more temperature

    def facts(self, travel: TravelInput | None) -> PassageFacts:
        return PassageFacts(person=self.person, code=self.code, temps=tuple(self.temps), travel=travel)


@dataclass(frozen=True)
class View:
    """What the kiosk shows of the passage in progress."""

    open: bool
    person: PersonFacts | None = None
    code: CodeFacts | None = None
    temps: tuple[TempReading, ...] = ()
    missing: tuple[Input, ...] = ()
    remeasure: bool = False  # the traveller must measure again


class PassageMachine:
    def __init__(self, kind: CheckpointKind, policy: Callable[[], Policy], timeout_s: float = 20.0) -> None:
        self.kind = kind
        self._policy = policy
        self.timeout_s = timeout_s
        self.current: Passage | None = None
        self.vehicle: TravelInput | None = None

    # inputs

    def card(self, person: PersonFacts, now: float) -> list[PassageFacts]:
        closed = []
        cur = self.current
        if cur is not None and cur.person is not None and cur.person.id_number != person.id_number:
            closed.append(self._close())
        self._open(now).person = person
        return closed + self._close_if_complete()

    def code(self, code: CodeFacts, key: str, now: float) -> list[PassageFacts]:
        cur = self.current
        if cur is not None and cur.code_key == key:
            cur.last_input_at = now  # the same code still in view
            return []
        closed = [self._close()] if cur is not None and cur.code is not None else []
        passage = self._open(now)
        passage.code, passage.code_key = code, key
        return closed + self._close_if_complete()

    def temperature(self, reading: TempReading, now: float) -> list[PassageFacts]:
        passage = self._open(now)
        passage.temps.append(reading)
        passage.remeasure_asked = False
        return self._close_if_complete()

    def remeasure(self, now: float) -> None:
        """Staff ask for another temperature of the traveller in front of them."""
        self._open(now).remeasure_asked = True

    def set_vehicle(self, vehicle: TravelInput | None) -> None:
        self.vehicle = vehicle

    def tick(self, now: float) -> list[PassageFacts]:
        """Close the open passage if nothing arrived for `timeout_s`."""
        cur = self.current
        if cur is not None and now - cur.last_input_at >= self.timeout_s:
            return [self._close()]
        return []

    # state

    def missing(self) -> tuple[Input, ...]:
        cur = self.current
        if cur is None:
            return ()
        have = {Input.ID: cur.person is not None, Input.CODE: cur.code is not None, Input.TEMPERATURE: bool(cur.temps)}
        return tuple(i for i in Input if i in self._policy().required[self.kind] and not have[i])

    def waiting_for_remeasure(self) -> bool:
        cur = self.current
        return cur is not None and (cur.remeasure_asked or self._policy().needs_remeasure(tuple(cur.temps)))

    def view(self) -> View:
        cur = self.current
        if cur is None:
            return View(open=False)
        return View(True, cur.person, cur.code, tuple(cur.temps), self.missing(), self.waiting_for_remeasure())

    # internals

    def _open(self, now: float) -> Passage:
        if self.current is None:
            self.current = Passage(opened_at=now, last_input_at=now)
        self.current.last_input_at = now
        return self.current

    def _close(self) -> PassageFacts:
        assert self.current is not None
        facts = self.current.facts(self.vehicle if self.kind is CheckpointKind.TRAFFIC else None)
        self.current = None
        return facts

    def _close_if_complete(self) -> list[PassageFacts]:
        if self.current is not None and not self.missing() and not self.waiting_for_remeasure():
            return [self._close()]
        return []
