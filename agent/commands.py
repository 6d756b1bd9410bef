"""What the staff (through the kiosk) and the simulated stations ask of the station."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.policy import PassageFacts
from contract import idnumber
from contract.messages import Decision, TravelInput


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Remeasure(Command):
    """Measure the traveller in front of the station again."""


class ManualId(Command):
    """An ID number typed by staff when the reader cannot read the card."""

    id_number: str
    name: str = Field(default="", max_length=60)

    @field_validator("id_number")
    @classmethod
    def _valid(cls, value: str) -> str:
        return idnumber.normalise(value)  # InvalidIdNumber is a ValueError: a clear 422 at the kiosk


class Override(Command):
    """Staff replace a verdict's decision, with a reason and who they are (工号或姓名); recorded as
    a new verdict that supersedes it, signed with the staff member's name in it."""

    verdict_id: UUID
    decision: Decision
    reason: str = Field(min_length=2, max_length=200)
    staff: str = Field(min_length=1, max_length=40)

    @field_validator("staff")
    @classmethod
    def _someone(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say who overrides (staff number or name)")
        return value.strip()


class SetVehicle(Command):
    """The vehicle now at a traffic checkpoint (None: no vehicle); applies to each occupant's passage."""

    vehicle: TravelInput | None


class RecordPassage(Command):
    """Complete facts from a station without devices (agent.direct_station)."""

    facts: PassageFacts
