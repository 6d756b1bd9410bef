"""Turning one received MQTT message into rows, or into a dead letter with the reason.

Checks, in order: size, topic, JSON, the contract model, that the topic and the payload name the
same box, that the box is registered and not revoked, and (for verdicts) the signature. Whatever
fails goes to the dead-letter table with the first failing check as its reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from central.sql import AsReceived, utc
from central.store import DeviceKey
from checkpoint.settings import describe
from contract import signing, topics
from contract.messages import UPLINK_MODELS, Metrics, Status, Verdict


class Rejected(Exception):
    """The message cannot be stored; the text is the dead letter's reason."""


@dataclass(frozen=True)
class Accepted:
    kind: str  # verdict | status | metrics
    device: str
    row: dict[str, Any]


def check(
    topic: str, payload: bytes, keys: Mapping[str, DeviceKey], *, max_bytes: int, replayed: bool = False
) -> Accepted:
    if len(payload) > max_bytes:
        raise Rejected(f"payload of {len(payload)} bytes is over the {max_bytes}-byte limit")
    where = topics.parse_uplink(topic)
    if where is None:
        raise Rejected("not a checkpoint/v1 uplink topic")
    try:
        text = payload.decode("utf-8")  # JSON on the wire is UTF-8 (json.loads alone would take UTF-16/32 too)
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also a 5,000-digit number
        raise Rejected(f"not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise Rejected("not a JSON object")
    try:
        message = UPLINK_MODELS[where.kind].model_validate(obj)
    except ValidationError as exc:
        raise Rejected(f"not a valid {where.kind} message: {describe(exc)}"[:2000]) from None
    if (message.site, message.device) != (where.site, where.device):  # type: ignore[attr-defined]
        raise Rejected("the topic names another box than the payload")
    key = keys.get(where.device)
    if key is None:
        raise Rejected(f"unknown device {where.device!r}: not registered with central")
    if key.revoked:
        raise Rejected(f"device {where.device!r} is revoked")
    if key.site != where.site:
        raise Rejected(f"device {where.device!r} is registered at site {key.site!r}")
    if isinstance(message, Verdict):
        if not signing.verify(key.key, obj):
            raise Rejected("bad or missing signature")
        return Accepted("verdict", where.device, verdict_row(message, AsReceived(obj, text), replayed))
    if isinstance(message, Status):
        return Accepted("status", where.device, status_row(message))
    assert isinstance(message, Metrics)
    return Accepted("metrics", where.device, metrics_row(message))


def verdict_row(v: Verdict, obj: dict[str, Any], replayed: bool) -> dict[str, Any]:
    """The verdict's columns; read from the validated JSON object where that is cheaper than the model."""
    inputs = obj["inputs"]
    person, code = inputs["person"], inputs.get("code")
    temperature, travel = inputs.get("temperature") or {}, inputs.get("travel") or {}
    return dict(
        id=str(v.id),
        site=v.site,
        device=v.device,
        seq=v.seq,
        boot=v.boot,
        device_time=utc(v.device_time),
        received_at=datetime.now(UTC),
        clock_synced=v.clock_synced,
        kind=obj["kind"],
        decision=obj["decision"],
        flagged=v.flagged,
        reasons=obj["reasons"],
        follow_up=obj.get("follow_up", []),
        pseudonym=person.get("pseudonym"),
        id_masked=person.get("id_masked"),
        colour=code["colour"] if code else None,
        colour_source=code["source"] if code else None,
        body_c=temperature.get("body_c"),
        plate=travel.get("plate"),
        origin=travel.get("origin"),
        destination=travel.get("destination"),
        policy_version=v.policy_version,
        overridden=obj.get("override") is not None,
        supersedes=str(v.supersedes) if v.supersedes else None,
        replayed=replayed,
        payload=obj,
    )


def status_row(s: Status) -> dict[str, Any]:
    return dict(
        device=s.device,
        site=s.site,
        state=s.state.value,
        boot=s.boot,
        last_seen=datetime.now(UTC),
        device_time=utc(s.device_time),
        software=s.software,
        policy_version=s.policy_version,
        policy_rejected=s.policy_rejected,
        health=dict(s.devices),
    )


def metrics_row(m: Metrics) -> dict[str, Any]:
    return dict(
        device=m.device,
        site=m.site,
        state="online",
        boot=m.boot,
        last_seen=datetime.now(UTC),
        device_time=utc(m.device_time),
        metrics=m.model_dump(mode="json", exclude={"type", "v", "site", "device"}),
    )
