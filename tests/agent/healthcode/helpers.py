"""Issuers and payloads for the health-code tests (synthetic subjects only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.healthcode.signed_format import Claims, encode

NOW = datetime(2022, 5, 14, 9, 30, tzinfo=UTC)
SUBJECT = "5f0c1e9a7b3d42e8a1c6f0b9d2e7a4c1"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def claims(**changes: object) -> Claims:
    base = {
        "iss": "gd-cdc",
        "sub": SUBJECT,
        "col": "green",
        "iat": int((NOW - timedelta(hours=2)).timestamp()),
        "exp": int((NOW + timedelta(hours=22)).timestamp()),
        "nat": {"at": int((NOW - timedelta(hours=30)).timestamp()), "res": "negative"},
        "vac": 3,
    }
    return Claims.model_validate({**base, **changes})


def signed(key: Ed25519PrivateKey = KEY, **changes: object) -> str:
    return encode(claims(**changes), key)
