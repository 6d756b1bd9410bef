"""The weakest source: the colour the camera saw on the screen. A screenshot forges it, so it is
used only when no stronger source decided, and the status says so."""

from __future__ import annotations

from datetime import datetime

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
