"""The strongest source: a CKHC1 payload whose Ed25519 signature checks against a trusted issuer key.

A forged or malformed payload is reported as forged and ends the search (the colour on the screen
of a forged code means nothing); an expired one keeps its colour with `expired` set, so the policy
can name the reason. Expiry is judged by the box's clock: on a box whose clock is not synchronised
the agent must record that with the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.healthcode.signed_format import SignedCodeError, decode, is_signed_payload
from agent.healthcode.status import CodeStatus, Undecided, Verifier
from contract.messages import CodeColour, ColourSource

CLOCK_SKEW = timedelta(minutes=5)


class SignedVerifier(Verifier):
    """Checks CKHC1 payloads against `issuers`: issuer id -> its trusted public keys."""

    def __init__(self, issuers: Mapping[str, Sequence[Ed25519PublicKey]]) -> None:
        self._issuers = {name: tuple(keys) for name, keys in issuers.items()}

    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        if not is_signed_payload(text):
            return Undecided()
        try:
            signed = decode(text)
        except SignedCodeError as exc:
            return _forged(None, f"malformed signed code: {exc}")
        claims = signed.claims
        keys = self._issuers.get(claims.iss)
        if not keys:
            return CodeStatus(
                colour=CodeColour.UNKNOWN,
                source=ColourSource.SIGNED_PAYLOAD,
                issuer=claims.iss,
                unknown_issuer=True,
                detail=f"no trusted key for issuer {claims.iss!r}",
            )
        if not any(_valid(key, signed.signature, signed.signed_bytes) for key in keys):
            return _forged(claims.iss, "signature does not match the issuer's keys")
        nat = claims.nat
        status = CodeStatus(
            colour=CodeColour(claims.col),
            source=ColourSource.SIGNED_PAYLOAD,
            issuer=claims.iss,
            subject=claims.sub,
            expires_at=claims.expires_at,
            nucleic_acid_at=datetime.fromtimestamp(nat.at, UTC) if nat else None,
            nucleic_acid_result=nat.res if nat else None,
            vaccine_doses=claims.vac,
        )
        if now > claims.expires_at:
            return status.model_copy(
                update={"expired": True, "detail": f"expired at {claims.expires_at:%Y-%m-%d %H:%M}Z"}
            )
        if claims.issued_at > now + CLOCK_SKEW:
            return status.model_copy(update={"detail": "issued in the future: check the box's clock"})
        if screen_colour not in (CodeColour.UNKNOWN, status.colour):
            return status.model_copy(update={"detail": f"screen shows {screen_colour.value}; signed colour used"})
        return status


def _valid(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _forged(issuer: str | None, detail: str) -> CodeStatus:
    return CodeStatus(
        colour=CodeColour.UNKNOWN,
        source=ColourSource.SIGNED_PAYLOAD,
        issuer=issuer,
        forged=True,
        detail=detail,
    )
