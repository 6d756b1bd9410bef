"""central.intake.check: for any topic and payload, an `Accepted` or a `Rejected`, never another
exception (one would stop the collector's writer with the message still un-acknowledged)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from central.intake import Accepted, Rejected, check
from central.store import DeviceKey
from contract import signing, topics
from contract.messages import Decision
from tests.factories import verdict
from tests.fuzz.strategies import json_values, moments

KEY = b"property-test-key"
KEYS = {
    "box-a": DeviceKey(site="site-a", key=KEY, revoked=False),
    "box-r": DeviceKey(site="site-a", key=KEY, revoked=True),
}
LIMIT = 64 * 1024

topics_ = st.sampled_from(
    [
        topics.uplink(site, device, kind)
        for site in ("site-a", "site-b")
        for device in ("box-a", "box-r", "box-x")
        for kind in topics.UPLINK_KINDS
    ]
) | st.text(max_size=60)


def outcome(topic: str, payload: bytes) -> Accepted | str:
    try:
        return check(topic, payload, KEYS, max_bytes=LIMIT)
    except Rejected as exc:
        return str(exc)


@settings(max_examples=150, deadline=None)
@given(topics_, st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_topic_and_payload_give_accepted_or_rejected(topic: str, payload: bytes) -> None:
    result = outcome(topic, payload)
    assert isinstance(result, Accepted | str)


status_objects = st.fixed_dictionaries(
    {
        "site": st.just("site-a"),
        "device": st.sampled_from(["box-a", "box-r", "box-x"]),
        "state": st.sampled_from(["online", "offline", "asleep"]),
        "boot": st.integers(-1, 2**40),
        "device_time": moments.map(lambda t: t.isoformat()),
    },
    optional={
        "software": st.text(max_size=80),
        "devices": st.dictionaries(st.text(max_size=8), st.text(max_size=8)),
        "extra": json_values,
    },
)


@settings(max_examples=100, deadline=None)
@given(status_objects)
def test_status_messages_are_stored_exactly_when_valid_and_registered(obj: dict) -> None:
    signed = {**obj, "sig": signing.signature(KEY, obj)}  # signed by box-a's key, like every report
    result = outcome(topics.uplink("site-a", obj["device"], "status"), json.dumps(signed).encode())
    valid = (
        obj["state"] != "asleep"
        and 0 <= obj["boot"] < 2**31
        and "extra" not in obj
        and len(obj.get("software", "")) <= 64
    )
    valid = valid and all(len(k) <= 64 and len(v) <= 64 for k, v in obj.get("devices", {}).items())
    if valid and obj["device"] == "box-a":
        assert isinstance(result, Accepted) and result.kind == "status"
    else:
        assert isinstance(result, str)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**20), st.sampled_from(Decision), moments, st.integers(0, 63))
def test_signed_verdicts_are_accepted_and_any_tampering_rejected(
    seq: int, boot: int, decision: Decision, at, flip: int
) -> None:
    wire = signing.sign(
        KEY, verdict(seq=seq, boot=boot, decision=decision, device_time=at, site="site-a", device="box-a")
    )
    topic = topics.uplink("site-a", "box-a", "verdict")
    accepted = outcome(topic, wire)
    assert isinstance(accepted, Accepted) and accepted.row["seq"] == seq
    obj = json.loads(wire)
    obj["sig"] = obj["sig"][:flip] + ("0" if obj["sig"][flip] != "0" else "1") + obj["sig"][flip + 1 :]
    assert outcome(topic, json.dumps(obj).encode()) == "bad or missing signature"
    assert isinstance(outcome(topics.uplink("site-a", "box-r", "verdict"), wire), str)
