"""Turning one received MQTT message into rows, or into a dead letter with the reason.

Checks, in order: size, topic, JSON, the contract model, that the topic and the payload name the
same box, that the box is registered and not revoked, the signature (verdicts, statuses and
metrics alike), and for verdicts the privacy rules, which central enforces itself rather than
trusting the box: a verdict that passed carries no identity, and a masked ID number is masked.
A box's diagnostics answer must carry no full ID number in its log lines (the box masks them as it
writes them; central checks). Whatever fails goes to the dead-letter table with the first failing
check as its reason (a privacy failure is stored without the identity or the log lines it should
not have carried).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from central.sql import AsReceived, now, utc
from central.store import DeviceKey
from common.logs import redact
from common.settings import describe
from contract import signing, topics
from contract.messages import UPLINK_MODELS, BoxReport, DeviceState, Diagnostics, Metrics, Status, Verdict

_MASKED = re.compile(r"[^*]{0,3}\*+[^*]{0,4}")  # contract.idnumber.mask: at most 3 + 4 characters shown


class Rejected(Exception):
    """The message cannot be stored; the text is the dead letter's reason. `payload`: what to keep
    instead of the message as received (one that carried what it must not)."""

    def __init__(self, reason: str, payload: bytes | None = None) -> None:
        super().__init__(reason)
        self.payload = payload


@dataclass(frozen=True)
class Accepted:
    kind: str  # verdict | status | metrics | diagnostics
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
    if not signing.verify(key.key, obj):
        raise Rejected("bad or missing signature")
    if isinstance(message, Verdict):
        _check_privacy(message, obj)
        return Accepted("verdict", where.device, verdict_row(message, AsReceived(obj, text), replayed))
    if isinstance(message, Status):
        return Accepted("status", where.device, status_row(message))
    if isinstance(message, Diagnostics):
        _check_log_lines(message, obj)
        return Accepted("diagnostics", where.device, diagnostics_row(message, topic, payload))
    assert isinstance(message, Metrics)
    return Accepted("metrics", where.device, metrics_row(message))


def _check_privacy(v: Verdict, obj: dict[str, Any]) -> None:
    person = v.inputs.person
    problem = None
    if not v.flagged and person.identity is not None:
        problem = "a verdict that passed carries a full identity (only flagged verdicts may)"
    elif person.id_masked is not None and not _MASKED.fullmatch(person.id_masked):
        problem = "`id_masked` is not masked (at most the first 3 and last 4 characters may show)"
    if problem is None:
        return
    kept = json.loads(json.dumps(obj))
    kept["inputs"]["person"].pop("identity", None)
    kept["inputs"]["person"].pop("id_masked", None)
    raise Rejected(f"privacy: {problem}; stored without the person's identity",
                   json.dumps(kept, ensure_ascii=False).encode())


def _check_log_lines(d: Diagnostics, obj: dict[str, Any]) -> None:
    """A log line with a full ID number in it: the box's masking failed, and central keeps none of its lines."""
    unmasked = sum(redact(line) != line for line in d.logs)
    if unmasked:
        kept = {**obj, "logs": []}
        raise Rejected(f"privacy: {unmasked} log line(s) carry a full ID number; stored without the log lines",
                       json.dumps(kept, ensure_ascii=False).encode())


def diagnostics_row(d: Diagnostics, topic: str, payload: bytes) -> dict[str, Any]:
    """The answer to store with its request (central.store); topic and payload make its dead letter if
    it answers no request central made."""
    answer = d.model_dump(mode="json", exclude={"type", "v", "site", "device", "request", "sig"})
    return dict(id=str(d.request), device=d.device, answered_at=now(), answer=answer, topic=topic, payload=payload)


def verdict_row(v: Verdict, obj: dict[str, Any], replayed: bool) -> dict[str, Any]:
    """The verdict's columns; read from the validated JSON object where that is cheaper than the model."""
    inputs = obj["inputs"]
    person, code = inputs["person"], inputs.get("code")
    temperature, travel = inputs.get("temperature") or {}, inputs.get("travel") or {}
    return dict(
        id=str(v.id),
        site=v.site,
        device=v.device,
        epoch=v.epoch or "",
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


def _report_row(r: BoxReport) -> dict[str, Any]:
    """What every report tells about its box's life and where it ranks (central.lives)."""
    return dict(
        device=r.device,
        site=r.site,
        epoch=r.epoch or "",
        boot=r.boot,
        connection=r.connection,
        order_n=r.order,
        last_seq=r.last_seq,
        device_time=utc(r.device_time),
        received_at=datetime.now(UTC),
    )


def status_row(s: Status) -> dict[str, Any]:
    return dict(
        _report_row(s),
        state=s.state.value,
        software=s.software,
        policy_version=s.policy_version,
        policy_rejected=s.policy_rejected,
        health=dict(s.devices),
        lost_lives=[(life.epoch or "", life.last_seq) for life in s.lost_lives],
    )


def metrics_row(m: Metrics) -> dict[str, Any]:
    return dict(
        _report_row(m),
        state=DeviceState.ONLINE.value,
        metrics=m.model_dump(mode="json", exclude={"type", "v", "site", "device", "sig"}),
    )
