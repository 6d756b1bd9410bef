"""Signatures on verdicts: HMAC-SHA256 with the device's key over the canonical payload.

The canonical payload is the message's JSON object without its `sig` field, serialised with sorted
keys and no whitespace. Central verifies over the JSON it *received* (not a re-serialised model), so
the two sides cannot disagree on how a float or a date is written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from contract.messages import Verdict


def canonical(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(key: bytes, obj: dict[str, Any]) -> str:
    return hmac.new(key, canonical(obj), hashlib.sha256).hexdigest()


def sign(key: bytes, verdict: Verdict) -> bytes:
    """The verdict as it goes on the wire: JSON with its `sig`."""
    obj = verdict.model_dump(mode="json", exclude={"sig"})
    obj["sig"] = signature(key, obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def verify(key: bytes, obj: dict[str, Any]) -> bool:
    sig = obj.get("sig")
    return isinstance(sig, str) and hmac.compare_digest(sig, signature(key, obj))
