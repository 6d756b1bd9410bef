"""The collector's batch, acknowledge and receipt step, as a state machine: events in, actions out,
no I/O, no clock.

Theory of operation. Messages arrive (`received`) tagged with the MQTT connection they came on.
`take(now)` cuts a batch once `batch_max` messages wait or the oldest has waited `batch_wait_s`.
The shell stores the batch in one transaction and says which verdicts it stored (`committed`):
only then are the batch's messages acknowledged, and each box is sent a receipt naming what of it
is stored, per life (central.lives). A batch the shell gives up on (`abandoned`, e.g. stopping
while the database is away) is acknowledged never: the broker delivers it again.

What is acknowledged is what came on the *current* connection, each packet id once. After a
reconnect the broker hands again, under the same packet ids, whatever was not acknowledged; a
copy from the old connection still waiting here must not be acknowledged, or its id (by then
perhaps reused by the broker for a newer message) would acknowledge a message not yet stored.
It is stored all the same (storage takes each verdict id once) and its fresh copy is acknowledged
when that copy's batch commits. For the same reason a packet id twice in one batch is acknowledged
once.

Before the batch, each received message is checked (`check`), pure as well: size, topic, JSON, the
contract model, that the topic and the payload name the same box, that the box is registered and not
revoked, the signature (verdicts, statuses and metrics alike), and for verdicts the privacy rules,
which central enforces itself rather than trusting the box: a verdict that passed carries no
identity, and a masked ID number is masked; a box's diagnostics answer carries no full ID number in
its log lines (the box masks them as it writes them). Whatever fails goes to the dead-letter table
with the first failing check as its reason (a privacy failure is stored without the identity or the
log lines it should not have carried).
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from central.sql import AsReceived, utc
from common.logs import redact
from common.settings import describe
from contract import signing, topics
from contract.messages import UPLINK_MODELS, BoxReport, DeviceState, Diagnostics, Metrics, Status, Verdict

_MASKED = re.compile(r"[^*]{0,3}\*+[^*]{0,4}")  # contract.idnumber.mask: at most 3 + 4 characters shown


@dataclass(frozen=True)
class DeviceKey:
    site: str
    key: bytes
    revoked: bool
    mac_receipts: bool = False  # its last status said it checks receipts MAC'd with `key`


class Rejected(Exception):
    """The message cannot be stored; the text is the dead letter's reason. `payload`: what to keep
    instead of the message as received (one that carried what it must not)."""

    def __init__(self, reason: str, payload: bytes | None = None) -> None:
        super().__init__(reason)
        self.payload = payload


class Accepted(NamedTuple):
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
        obj = orjson.loads(payload)  # UTF-8 only (no BOM, no lone surrogates, no NaN), 1,024 levels deep at most
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"not JSON: {str(exc)[:200]}") from None
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
    if not _signed(key.key, obj):
        raise Rejected("bad or missing signature")
    if isinstance(message, Verdict):
        _check_privacy(message, obj)
        return Accepted("verdict", where.device, verdict_row(message, AsReceived(obj, payload), replayed))
    if isinstance(message, Status):
        return Accepted("status", where.device, status_row(message))
    if isinstance(message, Diagnostics):
        _check_log_lines(message, obj)
        return Accepted("diagnostics", where.device, diagnostics_row(message, topic, payload))
    assert isinstance(message, Metrics)
    return Accepted("metrics", where.device, metrics_row(message))


def _signed(key: bytes, obj: dict[str, Any]) -> bool:
    """contract.signing.verify, faster: orjson writes the canonical form (sorted keys, no whitespace,
    UTF-8) as the box's json.dumps did, byte for byte for what boxes send, in a quarter of the time
    (3.4 against 15 µs for a verdict). Where the two differ (a float json.dumps writes as 1e-05, an
    integer beyond 64 bits) the HMAC does not match and the message is checked again over the
    standard library's form, so no message is refused that signing.verify would take."""
    sig = obj.get("sig")
    if not isinstance(sig, str):
        return False
    unsigned = dict(obj)
    del unsigned["sig"]
    try:
        body = orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        body = b""
    mac = _keyed(key).copy()
    mac.update(body)
    return hmac.compare_digest(sig, mac.hexdigest()) or signing.verify(key, obj)


@functools.lru_cache(maxsize=65_536)  # a province's boxes
def _keyed(key: bytes) -> hmac.HMAC:
    """The HMAC-SHA256 state after the box's key, copied for each message: OpenSSL 3 then sets up
    neither the digest nor the key again (2 µs of the 4 µs hmac.digest takes for a verdict)."""
    return hmac.new(key, digestmod="sha256")


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
    return dict(id=str(d.request), device=d.device, answered_at=datetime.now(UTC), answer=answer, topic=topic,
                payload=payload)


def verdict_row(v: Verdict, obj: dict[str, Any], replayed: bool) -> dict[str, Any]:
    """The verdict's columns but its arrival (the commit's time, central.store); read from the validated
    JSON object where that is cheaper than the model."""
    inputs = obj["inputs"]
    person, code = inputs["person"], inputs.get("code")
    temperature, travel = inputs.get("temperature") or {}, inputs.get("travel") or {}
    return {
        "id": str(v.id),
        "site": v.site,
        "device": v.device,
        "epoch": v.epoch or "",
        "seq": v.seq,
        "boot": v.boot,
        "device_time": utc(v.device_time),
        "clock_synced": v.clock_synced,
        "kind": obj["kind"],
        "decision": obj["decision"],
        "flagged": v.flagged,
        "reasons": obj["reasons"],
        "follow_up": obj.get("follow_up", []),
        "pseudonym": person.get("pseudonym"),
        "id_masked": person.get("id_masked"),
        "colour": code["colour"] if code else None,
        "colour_source": code["source"] if code else None,
        "body_c": temperature.get("body_c"),
        "plate": travel.get("plate"),
        "origin": travel.get("origin"),
        "destination": travel.get("destination"),
        "policy_version": v.policy_version,
        "overridden": obj.get("override") is not None,
        "supersedes": str(v.supersedes) if v.supersedes else None,
        "replayed": replayed,
        "payload": obj,
    }


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
        software_update=({"state": s.update_state, "version": s.update_version, "reason": s.update_reason}
                         if s.update_state else None),
        lost_lives=[(life.epoch or "", life.last_seq) for life in s.lost_lives],
    )


def metrics_row(m: Metrics) -> dict[str, Any]:
    return dict(
        _report_row(m),
        state=DeviceState.ONLINE.value,
        metrics=m.model_dump(mode="json", exclude={"type", "v", "site", "device", "sig"}),
    )


class Message(NamedTuple):
    """One message as paho handed it over. A tuple: one is made per message on the hot path, and a
    tuple is made in a third of a frozen dataclass's time."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    replayed: bool  # the box marked it as having waited for the broker
    connection: int = 0  # the MQTT connection it came on (set by `received`)
    mac_receipts: bool = False  # a status saying the box checks receipts MAC'd with its key (contract.signing)


class Stored(NamedTuple):
    """A verdict the batch stored (or found stored already): what a receipt names."""

    site: str
    device: str
    epoch: str
    seq: int


@dataclass(frozen=True)
class Outcome:
    """What the shell does once a batch is committed."""

    acks: list[tuple[int, int]]  # (packet id, qos) to acknowledge, in arrival order
    receipts: dict[tuple[str, str, str], list[int]]  # (site, device, epoch) -> the seqs stored
    not_acked: int = 0  # copies from an earlier connection: the broker sends them again


@dataclass
class Intake:
    batch_max: int = 500
    batch_wait_s: float = 0.05
    connection: int = 0
    _waiting: list[Message] = field(default_factory=list)
    _first_at: float | None = None  # when the oldest waiting message arrived
    _in_batch: int = 0  # messages taken and not yet committed or abandoned

    def connected(self) -> None:
        """A new MQTT connection: what arrives from now on belongs to it."""
        self.connection += 1

    def received(self, message: Message, *, now: float) -> None:
        if not self._waiting:
            self._first_at = now
        self._waiting.append(Message(message.mid, message.qos, message.topic, message.payload, message.replayed,
                                     self.connection, message.mac_receipts))

    def due_in(self, now: float) -> float | None:
        """Seconds until `take` would cut a batch (0: now), or None when nothing waits."""
        if not self._waiting or self._first_at is None:
            return None
        if len(self._waiting) >= self.batch_max:
            return 0.0
        return max(0.0, self._first_at + self.batch_wait_s - now)

    def take(self, now: float) -> list[Message]:
        """The next batch if one is due, else []."""
        if self.due_in(now) != 0.0:
            return []
        batch, self._waiting = self._waiting[: self.batch_max], self._waiting[self.batch_max :]
        self._first_at = now if self._waiting else None
        self._in_batch += len(batch)
        return batch

    def committed(self, batch: list[Message], stored: list[Stored]) -> Outcome:
        self._in_batch -= len(batch)
        acks: dict[int, int] = {}
        old = 0
        for m in batch:
            if m.qos == 0:
                continue
            if m.connection != self.connection:
                old += 1
            else:
                acks.setdefault(m.mid, m.qos)
        receipts: dict[tuple[str, str, str], list[int]] = {}
        for s in stored:
            receipts.setdefault((s.site, s.device, s.epoch), []).append(s.seq)
        return Outcome(list(acks.items()), receipts, old)

    def abandoned(self, batch: list[Message]) -> None:
        """The shell stops without storing `batch`: nothing is acknowledged, the broker sends it again."""
        self._in_batch -= len(batch)

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed: held un-acknowledged at the broker."""
        return len(self._waiting) + self._in_batch
