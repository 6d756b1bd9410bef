"""The offline signed health-code format of this project ("CKHC1"), as pure encode/decode.

Theory of operation: the claims are compact JSON (short keys, documented in docs/camera.md); the
payload is `CKHC1:` + base32(claims JSON) + `.` + base32(Ed25519 signature), base32 upper-case
without padding, so that the whole text fits the QR alphanumeric mode (about 17 % smaller codes
than base64 in byte mode: a typical payload is a version 8-9 code). The signature covers the bytes
`CKHC1:` + claims JSON, so the version prefix cannot be swapped. `decode` only takes the payload
apart and validates the claims' shape; checking the signature against trusted keys and the
validity window is the verifier's job (signed_verifier.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

PREFIX = "CKHC1:"
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_PAYLOAD = 1200  # characters; real payloads are ~250

IssuerId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]
StatusColour = Literal["green", "yellow", "red", "grey"]


class SignedCodeError(ValueError):
    """A payload that claims to be CKHC1 but cannot be taken apart (bad bytes from the phone)."""


class NucleicAcidTest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: int = Field(ge=0, le=MAX_TIME)  # sampling time, Unix seconds
    res: Literal["negative", "positive", "pending"]


class Claims(BaseModel):
    """What an issuer asserts. Times are Unix seconds (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    iss: IssuerId
    sub: Pseudonym  # the issuer's pseudonym of the person (e.g. a truncated keyed HMAC)
    col: StatusColour
    iat: int = Field(ge=0, le=MAX_TIME)
    exp: int = Field(ge=0, le=MAX_TIME)
    nat: NucleicAcidTest | None = None
    vac: int | None = Field(default=None, ge=0, le=9)  # vaccine doses

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.iat, UTC)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


class Signed(BaseModel):
    """A payload taken apart: the claims, the exact signed bytes and the signature."""

    model_config = ConfigDict(frozen=True)

    claims: Claims
    signed_bytes: bytes
    signature: bytes


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise SignedCodeError(f"not base32: {exc}") from exc


def is_signed_payload(text: str) -> bool:
    return text.startswith(PREFIX)


def encode(claims: Claims, key: Ed25519PrivateKey) -> str:
    """The payload text for `claims`, signed with the issuer's `key`."""
    body = json.dumps(claims.model_dump(exclude_none=True), separators=(",", ":")).encode()
    signature = key.sign(PREFIX.encode() + body)
    return f"{PREFIX}{_b32(body)}.{_b32(signature)}"


def decode(text: str) -> Signed:
    """Take a payload apart; raise SignedCodeError if it is not well-formed CKHC1."""
    if not is_signed_payload(text):
        raise SignedCodeError(f"does not start with {PREFIX}")
    if len(text) > MAX_PAYLOAD:
        raise SignedCodeError(f"longer than {MAX_PAYLOAD} characters")
    body_part, dot, sig_part = text[len(PREFIX) :].partition(".")
    if not dot or not body_part or not sig_part:
        raise SignedCodeError("expected CKHC1:<claims>.<signature>")
    body, signature = _unb32(body_part), _unb32(sig_part)
    if len(signature) != 64:
        raise SignedCodeError(f"an Ed25519 signature has 64 bytes, this one {len(signature)}")
    try:
        claims = Claims.model_validate_json(body)
    except ValidationError as exc:
        raise SignedCodeError(f"claims invalid: {exc.errors()[0]['msg']}") from exc
    return Signed(claims=claims, signed_bytes=PREFIX.encode() + body, signature=signature)
