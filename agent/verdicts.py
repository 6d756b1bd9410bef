"""Turning a decided passage into the signed verdict message that leaves the box.

Privacy (docs/design.md §9): the verdict carries the masked ID and the keyed pseudonym; the full identity
travels only when the verdict is flagged (not `pass`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from agent.facts import PassageFacts
from agent.policy import Outcome
from contract import idnumber
from contract.messages import (
    CheckpointKind,
    CodeInput,
    Decision,
    Identity,
    IdSource,
    Inputs,
    Override,
    PersonInput,
    Reason,
    TemperatureInput,
    Verdict,
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
        travel=facts.travel,
    )
