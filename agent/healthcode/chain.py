"""Verifiers asked strongest first; the first that decides wins, and its status names the source.

Notes from verifiers that tried and could not decide (an unreachable issuer) are carried into the
final status's detail, so the staff and the office see why a weaker source decided.

The weakest source: the colour the camera saw on the screen. A screenshot forges it, so it is
used only when no stronger source decided, and the status says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from agent.healthcode.keys import load_public_key
from agent.healthcode.online_verifier import OnlineSettings, OnlineVerifier
from agent.healthcode.signed_verifier import SignedVerifier
from agent.healthcode.status import CodeStatus, Undecided, Verifier
from contract.messages import CodeColour, ColourSource


class ScreenColourVerifier(Verifier):
    """Always decides: the screen colour, or `unreadable` when the colour could not be told."""

    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        if screen_colour is CodeColour.UNKNOWN:
            return CodeStatus(
                colour=CodeColour.UNKNOWN,
                source=ColourSource.NONE,
                unreadable=True,
                detail="payload not verifiable and the screen colour could not be told",
            )
        return CodeStatus(
            colour=screen_colour, source=ColourSource.SCREEN_COLOUR, detail="colour read from the screen only"
        )


class VerifierChain(Verifier):
    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        self.verifiers = tuple(verifiers)

    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        notes: list[str] = []
        for verifier in self.verifiers:
            outcome = verifier.check(text, screen_colour, now)
            if isinstance(outcome, CodeStatus):
                if not notes:
                    return outcome
                detail = "; ".join([*notes, outcome.detail] if outcome.detail else notes)
                return outcome.model_copy(update={"detail": detail})
            if outcome.note:
                notes.append(outcome.note)
        return Undecided(note="; ".join(notes))

    def verify(self, text: str, screen_colour: CodeColour, now: datetime | None = None) -> CodeStatus:
        """Like `check`, but always a status: `unreadable` when no verifier decided."""
        outcome = self.check(text, screen_colour, now or datetime.now(UTC))
        if isinstance(outcome, CodeStatus):
            return outcome
        return CodeStatus(
            colour=CodeColour.UNKNOWN,
            source=ColourSource.NONE,
            unreadable=True,
            detail=outcome.note or "no verifier recognised this code",
        )


class HealthCodeSettings(BaseModel):
    """The verification part of an agent's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer_keys: dict[str, list[str]] = Field(default_factory=dict)  # issuer id -> base64 public keys
    online: OnlineSettings = OnlineSettings()
    accept_screen_colour: bool = True  # False: a code no stronger source vouches for is unreadable


def build_chain(settings: HealthCodeSettings) -> VerifierChain:
    """Signed payload, then online lookup (if issuers are configured), then the screen colour."""
    keys = {issuer: [load_public_key(text) for text in texts] for issuer, texts in settings.issuer_keys.items()}
    verifiers: list[Verifier] = [SignedVerifier(keys)]
    if settings.online.issuers:
        verifiers.append(OnlineVerifier(settings.online))
    if settings.accept_screen_colour:
        verifiers.append(ScreenColourVerifier())
    return VerifierChain(verifiers)
