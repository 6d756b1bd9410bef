"""What a verifier concludes about a presented health code, and the one interface verifiers share.

A verifier either decides (`CodeStatus`, which names the source that decided) or steps aside
(`Undecided`, with a note when it tried and failed, e.g. the issuer was unreachable). The chain
(chain.py) asks verifiers strongest first; the first to decide wins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from contract.messages import CodeColour, ColourSource


class CodeStatus(BaseModel):
    """The status of one presented code and who vouches for it.

    `colour` is what the policy should act on; the flags say why it may not be trusted:
    `forged` (bad signature, malformed signed payload, or unknown to its issuer), `expired`,
    `unknown_issuer` (signed by an issuer this box has no key for), `unreadable` (nothing usable).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    colour: CodeColour
    source: ColourSource
    issuer: str | None = None
    subject: str | None = None  # the issuer's pseudonym of the person, when the payload carries one
    detail: str = ""
    expired: bool = False
    forged: bool = False
    unknown_issuer: bool = False
    unreadable: bool = False
    expires_at: datetime | None = None
    nucleic_acid_at: datetime | None = None
    nucleic_acid_result: str | None = None
    vaccine_doses: int | None = None

    @property
    def trusted(self) -> bool:
        """True when the colour comes from a verified source and nothing is wrong with it."""
        return self.source in (ColourSource.SIGNED_PAYLOAD, ColourSource.ONLINE_LOOKUP) and not (
            self.expired or self.forged or self.unknown_issuer or self.unreadable
        )


class Undecided(BaseModel):
    """A verifier steps aside: the payload is not its kind, or (with a note) it could not check it."""

    model_config = ConfigDict(frozen=True)

    note: str = ""


class Verifier(ABC):
    """One way of finding a code's status. Implementations must be safe to call from several threads."""

    @abstractmethod
    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        """Decide the status of the payload `text` shown in `screen_colour` at `now` (timezone-aware)."""
