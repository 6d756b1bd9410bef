from __future__ import annotations

from datetime import datetime

from agent.healthcode.chain import HealthCodeSettings, ScreenColourVerifier, VerifierChain, build_chain
from agent.healthcode.keys import public_key_text
from agent.healthcode.online_verifier import OnlineIssuer, OnlineSettings
from agent.healthcode.status import CodeStatus, Undecided, Verifier
from contract.messages import CodeColour, ColourSource
from tests.agent.healthcode.helpers import KEY, NOW, signed

SETTINGS = HealthCodeSettings(issuer_keys={"gd-cdc": [public_key_text(KEY)]})


class Unreachable(Verifier):
    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        return Undecided(note="issuer x unreachable")


def test_signed_payload_outranks_the_screen() -> None:
    status = build_chain(SETTINGS).verify(signed(col="red"), CodeColour.GREEN, NOW)
    assert (status.colour, status.source) == (CodeColour.RED, ColourSource.SIGNED_PAYLOAD)


def test_a_forged_signed_code_does_not_fall_back_to_the_screen() -> None:
    text = signed()
    status = build_chain(SETTINGS).verify(text[:-4] + "AAAA", CodeColour.GREEN, NOW)
    assert status.forged and status.colour is CodeColour.UNKNOWN


def test_an_unverifiable_payload_falls_back_to_the_screen_and_says_why() -> None:
    chain = VerifierChain([Unreachable(), ScreenColourVerifier()])
    status = chain.verify("https://hc.example.gov.cn/c/AB12", CodeColour.YELLOW, NOW)
    assert (status.colour, status.source) == (CodeColour.YELLOW, ColourSource.SCREEN_COLOUR)
    assert "unreachable" in status.detail and "screen only" in status.detail
    assert not status.trusted


def test_unknown_screen_colour_is_unreadable() -> None:
    status = build_chain(SETTINGS).verify("hello", CodeColour.UNKNOWN, NOW)
    assert status.unreadable and status.source is ColourSource.NONE


def test_without_the_screen_a_plain_code_is_unreadable() -> None:
    chain = build_chain(SETTINGS.model_copy(update={"accept_screen_colour": False}))
    status = chain.verify("https://hc.example.gov.cn/c/AB12", CodeColour.GREEN, NOW)
    assert status.unreadable and status.colour is CodeColour.UNKNOWN


def test_build_chain_adds_the_online_verifier_only_when_issuers_are_configured() -> None:
    assert len(build_chain(SETTINGS).verifiers) == 2
    online = OnlineSettings(issuers=[OnlineIssuer(name="gd-hc", pattern="^x", lookup_url="http://127.0.0.1:1/{token}")])
    assert len(build_chain(SETTINGS.model_copy(update={"online": online})).verifiers) == 3
