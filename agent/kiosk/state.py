"""What the kiosk shows, as one snapshot the station replaces whole on every change.

Only masked ID numbers are here: the page never holds a full one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from agent.passage import View
from agent.policy import PassageFacts, PersonFacts
from contract import idnumber, labels
from contract.messages import Registration, TravelInput, Verdict


class Words(BaseModel):
    zh: str
    en: str


class PersonView(BaseModel):
    name: str
    id_masked: str
    typed: bool = False


class CodeView(BaseModel):
    colour: str
    colour_words: Words
    source_words: Words


class TempView(BaseModel):
    body_c: float | None
    valid: bool


class PassageView(BaseModel):
    person: PersonView | None = None
    code: CodeView | None = None
    temps: list[TempView] = []
    missing: list[str] = []
    remeasure: bool = False


class VerdictView(BaseModel):
    id: str
    seq: int
    decision: str
    decision_words: Words
    reasons: list[Words]
    follow_up: list[Words]
    person: PersonView | None
    body_c: float | None
    at: datetime
    overridden: bool
    registered: Words | None = None  # "已报备 → <destination>": the traveller registered in advance


class LinkView(BaseModel):
    online: bool
    refused: str | None = None  # why the box stopped connecting (another box has its identity)
    outbox_depth: int
    outbox_capacity: int
    outbox_warning: bool


class KioskState(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = 0
    site: str
    device: str
    kind: str
    passage: PassageView | None = None
    verdict: VerdictView | None = None
    vehicle: TravelInput | None = None
    link: LinkView
    devices: dict[str, str] = {}
    error: str | None = None  # e.g. the outbox could not record: staff must use the paper ledger
    voice: bool = True  # the page speaks its prompts (kiosk.voice)


def person_view(person: PersonFacts | None) -> PersonView | None:
    if person is None:
        return None
    return PersonView(name=person.name, id_masked=idnumber.mask(person.id_number), typed=person.source == "typed")


def passage_view(view: View) -> PassageView | None:
    if not view.open:
        return None
    person = view.person
    code = view.code
    return PassageView(
        person=person_view(person),
        code=CodeView(
            colour=code.colour.value,
            colour_words=Words(**labels.words(labels.COLOURS, code.colour)),
            source_words=Words(**labels.words(labels.SOURCES, code.source)),
        )
        if code
        else None,
        temps=[TempView(body_c=t.body_c, valid=t.valid) for t in view.temps],
        missing=[m.value for m in view.missing],
        remeasure=view.remeasure,
    )


def verdict_view(verdict: Verdict, facts: PassageFacts) -> VerdictView:
    person = facts.person
    temp = verdict.inputs.temperature
    return VerdictView(
        id=str(verdict.id),
        seq=verdict.seq,
        decision=verdict.decision.value,
        decision_words=Words(**labels.words(labels.DECISIONS, verdict.decision)),
        reasons=[Words(**labels.words(labels.REASONS, r)) for r in verdict.reasons],
        follow_up=[Words(**labels.words(labels.FOLLOW_UPS, f)) for f in verdict.follow_up],
        person=person_view(person),
        body_c=temp.body_c if temp else None,
        at=verdict.device_time,
        overridden=verdict.override is not None,
        registered=_registered(verdict.inputs.registration),
    )


def _registered(registration: Registration | None) -> Words | None:
    if registration is None:
        return None
    place = registration.place or registration.destination
    return Words(zh=f"已报备 → {place}", en=f"Registered → {place}")
