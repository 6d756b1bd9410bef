import contextlib
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import signing, topics
from contract.messages import DOWNLINK_MODELS, UPLINK_MODELS, Receipt, TravelInput, Verdict
from tests.factories import verdict


def test_signed_verdict_round_trips_and_verifies() -> None:
    v = verdict(seq=7)
    wire = signing.sign(b"device-key", v)
    obj = json.loads(wire)
    assert signing.verify(b"device-key", obj)
    back = Verdict.model_validate(obj)
    assert back.seq == 7 and back.sig == obj["sig"]


@pytest.mark.parametrize("field", ["seq", "decision", "policy_version"])
def test_any_change_breaks_the_signature(field: str) -> None:
    obj = json.loads(signing.sign(b"k", verdict()))
    obj[field] = {"seq": 99, "decision": "deny", "policy_version": "forged"}[field]
    assert not signing.verify(b"k", obj)


def test_wrong_key_or_missing_signature_fails() -> None:
    obj = json.loads(signing.sign(b"k", verdict()))
    assert not signing.verify(b"other", obj)
    del obj["sig"]
    assert not signing.verify(b"k", obj)


@pytest.mark.parametrize(
    "change",
    [{"seq": 0}, {"site": "Bad Site"}, {"device": "x" * 40}, {"extra": 1}, {"decision": "maybe"}],
)
def test_invalid_verdicts_are_refused(change: dict[str, object]) -> None:
    obj = json.loads(signing.sign(b"k", verdict()))
    obj.update(change)
    with pytest.raises(ValidationError):
        Verdict.model_validate(obj)


def test_topics_round_trip() -> None:
    t = topics.uplink("site-a", "box-1", "verdict")
    assert t == "checkpoint/v1/site-a/box-1/verdict"
    assert topics.parse_uplink(t) == ("site-a", "box-1", "verdict")
    assert topics.parse_uplink("checkpoint/v1/site-a/box-1/down/policy") is None
    assert topics.parse_uplink("other/v1/a/b/verdict") is None
    assert topics.parse_downlink(topics.broadcast("policy")) == "policy"
    assert topics.parse_downlink(topics.downlink("s", "d", "receipt")) == "receipt"
    assert all(s.startswith("$share/central/") for s in topics.central_subscriptions("central"))


def test_every_message_has_a_json_schema() -> None:
    for model in [*UPLINK_MODELS.values(), *DOWNLINK_MODELS.values(), Receipt]:
        assert model.model_json_schema()["type"] == "object"


@given(st.lists(st.integers(min_value=1, max_value=10_000), max_size=200))
def test_receipt_ranges_cover_exactly_the_seqs(seqs: list[int]) -> None:
    receipt = Receipt.of("box-1", seqs)
    assert receipt.expand() == sorted(set(seqs))
    assert all(a <= b for a, b in receipt.seqs)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_validation(data: bytes) -> None:
    with contextlib.suppress(ValidationError):  # valid, or refused with pydantic's error: nothing else
        Verdict.model_validate_json(data)


def test_verdict_id_is_a_uuid() -> None:
    assert isinstance(verdict().id, uuid.UUID)


@pytest.mark.parametrize(("code", "fine"), [
    ("420102", True), ("420102001", True), ("420102001003", True), (None, True),  # county, township, community
    ("42", False), ("4201", False), ("4201020", False), ("42010200100", False), ("42010200100a", False), ("", False),
])
def test_the_declared_destination_is_a_place_code_or_nothing(code: str | None, fine: bool) -> None:
    with contextlib.nullcontext() if fine else pytest.raises(ValidationError, match="destination_code"):
        TravelInput(plate="鄂A12345", destination="幸福小区", destination_code=code)


@pytest.mark.parametrize(("at", "plausible"), [
    ("1970-01-01T00:00:00Z", True),
    ("1970-01-01T00:00:00", True),  # no offset: UTC
    ("1969-12-31T23:59:59Z", False),
    ("1970-01-01T00:30:00+01:00", False),  # 1969 in UTC
    ("1970-01-01T23:30:00+23:59", False),
    ("1970-01-02T00:30:00+01:00", True),
    ("2999-12-31T23:59:59Z", True),
    ("2999-12-31T23:00:00-02:00", False),  # 3000 in UTC
    ("3000-01-01T00:00:00Z", False),
    ("0001-01-01T00:00:00+01:00", False),  # before year 1 in UTC
    ("9999-12-31T23:59:59-01:00", False),  # after year 9999 in UTC
    ("2026-11-30T08:00:00+08:00", True),
])
def test_a_time_is_plausible_from_1970_to_2999_in_utc(at: str, plausible: bool) -> None:
    obj = json.loads(verdict().model_dump_json())
    obj["device_time"] = at
    with contextlib.nullcontext() if plausible else pytest.raises(ValidationError, match="time out of range"):
        Verdict.model_validate(obj)
