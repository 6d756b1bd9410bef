"""Signatures on every message that crosses the broker, both ways.

Uplinks (a box's verdicts, statuses, metrics and diagnostics answers) carry an HMAC-SHA256 with
the box's own key, which central holds in its registry. Downlinks (receipts, pushed policy, lists,
settings, identity conflicts, diagnostics requests) carry an Ed25519 signature with central's
downlink key: every box holds only the public half, so a box cannot forge what another box would
obey, and one broadcast message can be checked by thousands of boxes. The broker is not trusted
with either: anyone who can publish on it could otherwise delete a box's unsent verdicts with a
forged receipt.

Receipts are the one downlink for a single box that central writes at the rate of verdicts (about one
per verdict across a fleet, where each box has one or two verdicts in a batch). An Ed25519 signature
costs central about 80 µs, an HMAC about 2 µs; so a box that says it checks receipts MAC'd with its
own key (the MQTT 5 user property RECEIPT_MAC on its statuses: its birth and its will) gets them
MAC'd, and every other box (older software) gets them signed as before. A property on statuses, not a
field: central of any version reads the status as before. Only that box and central hold its key, so
no one else can forge one.

The signed bytes are the canonical payload: the message's JSON object without its `sig` field,
with sorted keys and no whitespace. The receiver verifies over the JSON it *received* (not a
re-serialised model), so the two sides cannot disagree on how a float or a date is written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class BadSignature(ValueError):
    """A downlink is unsigned, signed with another key, or altered; the message says which."""


def canonical(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _wire(obj: dict[str, Any], sig: str) -> bytes:
    return json.dumps({**obj, "sig": sig}, separators=(",", ":"), ensure_ascii=False).encode()


# uplinks: HMAC with the box's key


def signature(key: bytes, obj: dict[str, Any]) -> str:
    return hmac.new(key, canonical(obj), hashlib.sha256).hexdigest()


def sign(key: bytes, message: BaseModel) -> bytes:
    """An uplink message (verdict, status, metrics, diagnostics) as it goes on the wire: JSON with its `sig`."""
    obj = message.model_dump(mode="json", exclude={"sig"})
    return _wire(obj, signature(key, obj))


RECEIPT_MAC = ("receipts", "mac")  # a box's MQTT 5 user property on its statuses: "MAC my receipts with my key"


def verify(key: bytes, obj: dict[str, Any]) -> bool:
    sig = obj.get("sig")
    return isinstance(sig, str) and hmac.compare_digest(sig, signature(key, obj))


def request_signature(key: bytes, device: str, method: str, path: str, at: int) -> str:
    """A box's HMAC on a request to central's HTTPS API (a release download), with the key of its
    uplinks: `at` (Unix seconds) bounds how long a recorded request could be replayed."""
    return hmac.new(key, f"{method} {path} {device} {at}".encode(), hashlib.sha256).hexdigest()


# downlinks: Ed25519 with central's key


def new_downlink_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key(raw_hex: str) -> Ed25519PrivateKey:
    """Central's downlink key from its 32-byte seed in hex (how it is kept in a file)."""
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw_hex.strip()))


def public_key(raw_hex: str) -> Ed25519PublicKey:
    """The public half, as boxes keep it: 32 bytes in hex."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw_hex.strip()))


def seal(key: Ed25519PrivateKey, message: BaseModel) -> bytes:
    """A downlink as it goes on the wire: JSON with central's Ed25519 `sig`."""
    obj = message.model_dump(mode="json", exclude={"sig"})
    return _wire(obj, key.sign(canonical(obj)).hex())


def opened(key: Ed25519PublicKey, payload: bytes, model: type[M], signer: str = "central",
           box_key: bytes | None = None) -> M:
    """The downlink `payload` as `model` if `signer` (central, or the deployment's release key) signed
    it, or (`box_key`: a receipt) central MAC'd it with this box's key; raise BadSignature or
    ValidationError."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise BadSignature(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise BadSignature("not a JSON object")
    sig = obj.get("sig")
    if box_key is not None and isinstance(sig, str) and len(sig) == 64:
        if not verify(box_key, obj):
            raise BadSignature(f"not MAC'd by {signer} with this box's key (the MAC does not match)")
        return model.model_validate(obj)
    if not isinstance(sig, str) or len(sig) != 128:
        raise BadSignature(f"not signed by {signer} (no signature)")
    try:
        key.verify(bytes.fromhex(sig), canonical(obj))
    except (InvalidSignature, ValueError):
        raise BadSignature(f"not signed by {signer} (the signature does not match)") from None
    return model.model_validate(obj)

