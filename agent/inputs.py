"""From driver events to the facts the policy reads. The only place the agent looks at driver models."""

from __future__ import annotations

from datetime import date

from agent.facts import CodeFacts, PersonFacts, TempReading
from agent.healthcode.status import CodeStatus
from contract.messages import CodeColour, IdSource
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
