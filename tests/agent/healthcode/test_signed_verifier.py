from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.healthcode.signed_format import PREFIX
from agent.healthcode.signed_verifier import SignedVerifier
from agent.healthcode.status import CodeStatus, Undecided
from contract.messages import CodeColour, ColourSource
from tests.agent.healthcode.helpers import KEY, NOW, OTHER_KEY, SUBJECT, signed

VERIFIER = SignedVerifier({"gd-cdc": [OTHER_KEY.public_key(), KEY.public_key()]})  # rotated: two keys


def _check(text: str, screen: CodeColour = CodeColour.GREEN) -> CodeStatus:
    status = VERIFIER.check(text, screen, NOW)
    assert isinstance(status, CodeStatus)
    return status


@pytest.mark.parametrize("colour", ["green", "yellow", "red", "grey"])
def test_a_valid_code_decides_with_its_signed_colour(colour: str) -> None:
    status = _check(signed(col=colour), CodeColour.UNKNOWN)
    assert (status.colour.value, status.source, status.issuer, status.subject) == (
        colour,
        ColourSource.SIGNED_PAYLOAD,
        "gd-cdc",
        SUBJECT,
    )
    assert status.trusted and status.vaccine_doses == 3 and status.nucleic_acid_result == "negative"
    assert status.nucleic_acid_at == NOW - timedelta(hours=30)


def test_expired_keeps_the_colour_and_says_so() -> None:
    status = _check(signed(exp=int((NOW - timedelta(minutes=1)).timestamp())))
    assert status.expired and not status.trusted
    assert status.colour is CodeColour.GREEN and "expired" in status.detail


@pytest.mark.parametrize(
    ("label", "text"),
    [
        (
            "signed by someone else",
            signed(key=Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)),
        ),
        ("body altered", signed()[:20] + ("A" if signed()[20] != "A" else "B") + signed()[21:]),
        ("signature altered", signed()[:-2] + ("AA" if not signed().endswith("AA") else "BB")),
        ("malformed", PREFIX + "NOTACODE"),
    ],
)
def test_forged_codes_are_reported_as_forged_with_no_colour(label: str, text: str) -> None:
    status = _check(text)
    assert status.forged and not status.trusted
    assert status.colour is CodeColour.UNKNOWN and status.source is ColourSource.SIGNED_PAYLOAD


def test_an_issuer_without_a_configured_key_is_unknown_not_trusted() -> None:
    status = _check(signed(iss="hb-cdc"))
    assert status.unknown_issuer and not status.forged and status.colour is CodeColour.UNKNOWN


def test_the_screen_disagreeing_is_noted_but_the_signature_wins() -> None:
    status = _check(signed(col="red"), CodeColour.GREEN)
    assert status.colour is CodeColour.RED and "screen shows green" in status.detail


def test_a_code_from_the_future_is_noted() -> None:
    status = _check(signed(iat=int((NOW + timedelta(hours=1)).timestamp())))
    assert "future" in status.detail and status.trusted


def test_other_payloads_are_not_its_business() -> None:
    assert VERIFIER.check("https://example.org/x", CodeColour.GREEN, NOW) == Undecided()
