from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.healthcode.signed_format import MAX_TIME, PREFIX, Claims, SignedCodeError, decode, encode
from tests.agent.healthcode.helpers import KEY, claims, signed


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


SIG = _b32(bytes(64))
BODY = _b32(json.dumps(claims().model_dump(exclude_none=True), separators=(",", ":")).encode())

BAD = [
    ("wrong prefix", "CKHC2:" + BODY + "." + SIG, "does not start"),
    ("no separator", PREFIX + BODY + SIG, "expected"),
    ("empty claims", PREFIX + "." + SIG, "expected"),
    ("empty signature", PREFIX + BODY + ".", "expected"),
    ("lower-case base32", PREFIX + BODY.lower() + "." + SIG, "base32"),
    ("short signature", PREFIX + BODY + "." + _b32(bytes(63)), "64 bytes"),
    ("not JSON", PREFIX + _b32(b"{oops") + "." + SIG, "claims invalid"),
    (
        "unknown field",
        PREFIX + _b32(b'{"iss":"a","sub":"' + b"0" * 32 + b'","col":"green","iat":1,"exp":2,"x":1}') + "." + SIG,
        "claims invalid",
    ),
    (
        "bad colour",
        PREFIX + _b32(json.dumps({**claims().model_dump(exclude_none=True), "col": "blue"}).encode()) + "." + SIG,
        "claims invalid",
    ),
    (
        "bad pseudonym",
        PREFIX + _b32(json.dumps({**claims().model_dump(exclude_none=True), "sub": "ZZ"}).encode()) + "." + SIG,
        "claims invalid",
    ),
    ("too long", PREFIX + "A" * 2000 + "." + SIG, "longer"),
]


@pytest.mark.parametrize(("label", "text", "reason"), BAD, ids=[b[0] for b in BAD])
def test_malformed_payloads_are_refused_with_the_reason(label: str, text: str, reason: str) -> None:
    with pytest.raises(SignedCodeError, match=reason):
        decode(text)


def test_a_payload_is_alphanumeric_so_the_code_stays_small() -> None:
    text = signed()
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert len(text) < 400


def test_round_trip_keeps_the_claims_and_signs_prefix_and_body() -> None:
    text = signed()
    parts = decode(text)
    assert parts.claims == claims()
    assert parts.signed_bytes.startswith(PREFIX.encode())
    KEY.public_key().verify(parts.signature, parts.signed_bytes)  # raises if not


@given(
    st.builds(
        Claims,
        iss=st.from_regex(r"^[a-z0-9][a-z0-9-]{0,31}$", fullmatch=True),
        sub=st.from_regex(r"^[0-9a-f]{16,64}$", fullmatch=True),
        col=st.sampled_from(["green", "yellow", "red", "grey"]),
        iat=st.integers(0, MAX_TIME),
        exp=st.integers(0, MAX_TIME),
        vac=st.none() | st.integers(0, 9),
    )
)
def test_every_claim_set_survives_the_round_trip(value: Claims) -> None:
    assert decode(encode(value, KEY)).claims == value


@given(st.text(max_size=300))
def test_arbitrary_text_after_the_prefix_never_escapes_as_another_error(tail: str) -> None:
    with contextlib.suppress(SignedCodeError):
        decode(PREFIX + tail)
