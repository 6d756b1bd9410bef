"""Issuer keys for the offline signed format: Ed25519, written as base64 of the raw 32 bytes.

An issuer keeps its private key; boxes are configured with the public keys of the issuers they
trust (issuer id -> one or more public keys, so a key can be rotated without a flag day).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat


class KeyTextError(ValueError):
    """The text is not a base64 Ed25519 key of 32 bytes (a configuration mistake, not a peer's)."""


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_text(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _raw(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise KeyTextError(f"not base64: {exc}") from exc
    if len(raw) != 32:
        raise KeyTextError(f"an Ed25519 key has 32 bytes, this one {len(raw)}")
    return raw


def load_private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw(text))


def load_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw(text))
