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

This is the agent's one pure room between the drivers and the outbox, in three parts:
- from driver events to facts (`person_from_card`, `reading_from_measurement`, `code_from_status`):
  the only place the agent looks at driver models;
- the passage machine itself (`PassageMachine`);
- from a decided passage to the verdict message that leaves the box (`build`). Privacy
  (docs/design.md §9): the verdict carries the masked ID and the keyed pseudonym; the full identity
  travels only when the verdict is flagged (not `pass`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from agent.healthcode.status import CodeStatus
from agent.policy import CodeFacts, Input, Outcome, PassageFacts, PersonFacts, Policy, TempReading
from contract import idnumber
from contract.messages import (
    CheckpointKind,
    CodeColour,
    CodeInput,
    Decision,
    Identity,
    IdSource,
    Inputs,
    Override,
    PersonInput,
    Reason,
    TemperatureInput,
    TravelInput,
    Verdict,
)
from drivers.idcard.reader import CardPresented
from drivers.thermo.events import TemperatureMeasured


def person_from_card(event: CardPresented, today: date) -> PersonFacts:
    card = event.card
    return PersonFacts(
        source=IdSource.CARD,
        id_number=card.id_number,
        name=card.name or (card.name_en or ""),
        card_type=card.type.value,
        card_expired=card.expired(today),
    )


def reading_from_measurement(event: TemperatureMeasured) -> TempReading:
    """An invalid measurement stays invalid (body_c None): it is never rewritten to look normal."""
    return TempReading(
        body_c=event.body_c if event.status == "measured" else None,
        object_c=event.object_c,
        offset_c=event.offset_c,
        sensor=event.protocol,
    )


def code_from_status(status: CodeStatus) -> CodeFacts:
    """A code nobody can vouch for (unknown issuer, unreadable) counts as colour unknown: staff look."""
    unverifiable = status.unknown_issuer or status.unreadable
    return CodeFacts(
        colour=CodeColour.UNKNOWN if unverifiable else status.colour,
        source=status.source,
        issuer=status.issuer,
        detail=status.detail,
        expired=status.expired,
        forged=status.forged,
    )


@dataclass(frozen=True)
class BoxIdentity:
    """Who is deciding: the box's identity (site, device, kind) and the key of its pseudonyms."""

    site: str
    device: str
    kind: CheckpointKind
    pseudonym_key: bytes

    def pseudonym(self, facts: PassageFacts) -> str | None:
        return idnumber.pseudonym(self.pseudonym_key, facts.person.id_number) if facts.person else None


def build(
    box: BoxIdentity,
    facts: PassageFacts,
    outcome: Outcome,
    *,
    epoch: str | None,
    seq: int,
    boot: int,
    policy_version: str,
    now: datetime,
    clock_synced: bool,
    override: Override | None = None,
    supersedes: UUID | None = None,
) -> Verdict:
    decision = outcome.decision if override is None else override.decision
    flagged = decision is not Decision.PASS
    return Verdict(
        id=uuid.uuid4(),
        site=box.site,
        device=box.device,
        epoch=epoch,
        seq=seq,
        boot=boot,
        device_time=now,
        clock_synced=clock_synced,
        kind=box.kind,
        inputs=_inputs(box, facts, flagged),
        decision=decision,
        reasons=[*outcome.reasons, *([Reason.STAFF_OVERRIDE] if override else [])],
        follow_up=list(outcome.follow_up),
        override=override,
        supersedes=supersedes,
        policy_version=policy_version,
    )


def _inputs(box: BoxIdentity, facts: PassageFacts, flagged: bool) -> Inputs:
    person = facts.person
    if person is None:
        person_in = PersonInput(source=IdSource.NONE)
    else:
        person_in = PersonInput(
            source=person.source,
            pseudonym=box.pseudonym(facts),
            id_masked=idnumber.mask(person.id_number),
            province=idnumber.province_code(person.id_number) if person.id_number[:2].isdigit() else None,
            card_expired=person.card_expired,
            identity=Identity(name=person.name, id_number=person.id_number, card_type=person.card_type)
            if flagged
            else None,
        )
    code = facts.code
    temps = facts.temps
    last = temps[-1] if temps else None
    return Inputs(
        person=person_in,
        code=CodeInput(colour=code.colour, source=code.source, issuer=code.issuer, detail=code.detail[:500])
        if code
        else None,
        temperature=TemperatureInput(
            body_c=last.body_c,
            object_c=last.object_c,
            offset_c=last.offset_c,
            sensor=last.sensor,
            readings=len(temps),
            valid=last.valid,
        )
        if last
        else None,
        travel=_travel(facts),
        registration=facts.registration,
    )


def _travel(facts: PassageFacts) -> TravelInput | None:
    """What was registered at the gate; a pre-registered traveller's destination is the one they gave."""
    travel, registration = facts.travel, facts.registration
    if registration is None or (travel is not None and travel.destination_code is not None):
        return travel
    return (travel or TravelInput()).model_copy(update={"destination_code": registration.destination})


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
