"""The CKHC1 decoder and the verifier chain on any text: `decode` fails only as SignedCodeError, the
chain always answers a CodeStatus, and only a payload signed by a trusted key is trusted."""

from __future__ import annotations

import base64
import contextlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.healthcode.chain import HealthCodeSettings, build_chain
from agent.healthcode.keys import public_key_text
from agent.healthcode.signed_format import PREFIX, SignedCodeError, decode
from agent.healthcode.status import CodeStatus
from contract.messages import CodeColour, ColourSource
from tests.agent.healthcode.helpers import KEY, NOW, OTHER_KEY

CHAIN = build_chain(HealthCodeSettings(issuer_keys={"gd-cdc": [public_key_text(KEY)]}))
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: later times are test_known_bugs.py's

def signed_payload(body: bytes, key: Ed25519PrivateKey = KEY) -> str:
    """A payload carrying exactly these claim bytes, signed by `key`."""
    def b32(data: bytes) -> str:
        return base64.b32encode(data).decode().rstrip("=")

    return f"{PREFIX}{b32(body)}.{b32(key.sign(PREFIX.encode() + body))}"


texts = st.text(max_size=400) | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567.", max_size=400).map(
    lambda t: PREFIX + t)


@settings(max_examples=200, deadline=None)
@given(texts, st.sampled_from(CodeColour))
def test_any_text_gives_a_status_and_is_never_trusted(text: str, colour: CodeColour) -> None:
    with contextlib.suppress(SignedCodeError):
        decode(text)
    status = CHAIN.verify(text, colour, NOW)
    assert isinstance(status, CodeStatus) and not status.trusted


claims = st.fixed_dictionaries(
    {"iss": st.sampled_from(["gd-cdc", "other"]), "sub": st.from_regex(r"^[0-9a-f]{16,64}$", fullmatch=True),
     "col": st.sampled_from(["green", "yellow", "red", "grey"]), "iat": st.integers(0, LAST_SECOND),
     "exp": st.integers(0, LAST_SECOND)},
    optional={"nat": st.fixed_dictionaries({"at": st.integers(0, LAST_SECOND),
                                            "res": st.sampled_from(["negative", "positive", "pending"])}),
              "vac": st.integers(0, 9)},
)


@settings(max_examples=100, deadline=None)
@given(claims, st.sampled_from(CodeColour))
def test_signed_claims_decide_with_their_colour(value: dict, colour: CodeColour) -> None:
    body = json.dumps(value, separators=(",", ":")).encode()
    status = CHAIN.verify(signed_payload(body), colour, NOW)
    assert status.source is ColourSource.SIGNED_PAYLOAD
    assert status.unknown_issuer == (value["iss"] != "gd-cdc")
    if value["iss"] == "gd-cdc":
        assert status.colour.value == value["col"] and not status.forged
        assert status.expired == (NOW.timestamp() > value["exp"])


@settings(max_examples=30, deadline=None)
@given(claims)
def test_a_signature_by_another_key_is_forged(value: dict) -> None:
    body = json.dumps({**value, "iss": "gd-cdc"}).encode()
    status = CHAIN.verify(signed_payload(body, OTHER_KEY), CodeColour.GREEN, NOW)
    assert status.forged and not status.trusted
