"""What the agent knows about one traveller when it decides: the policy's inputs.

These hold the full identity (the agent needs it to check the watch-list and to fill a flagged
verdict); they never leave the box as such — `agent.verdicts` turns them into the contract's
masked, pseudonymous inputs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from contract.messages import CodeColour, ColourSource, IdSource, TravelInput


class Facts(BaseModel):
    model_config = ConfigDict(frozen=True)


class PersonFacts(Facts):
    source: IdSource
    id_number: str
    name: str = ""
    card_type: str | None = None
    card_expired: bool = False


class CodeFacts(Facts):
    colour: CodeColour
    source: ColourSource
    issuer: str | None = None
    detail: str = ""
    expired: bool = False  # a signed code past its expiry
    forged: bool = False  # a signature that does not verify


class TempReading(Facts):
    """One measurement as the thermometer's measurement layer reported it (offset already applied)."""

    body_c: float | None  # None when the reading was implausible
    object_c: float | None = None
    offset_c: float = 0.0
    sensor: str = "unknown"

    @property
    def valid(self) -> bool:
        return self.body_c is not None


class PassageFacts(Facts):
    person: PersonFacts | None = None
    code: CodeFacts | None = None
    temps: tuple[TempReading, ...] = ()
    travel: TravelInput | None = None
