"""Every contract message survives its JSON round trip, and any bytes fail validation only as
pydantic's ValidationError (the models are what central and the agents accept from the broker)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import topics
from contract.messages import (
    DOWNLINK_MODELS,
    UPLINK_MODELS,
    Check,
    CheckState,
    ConfigPush,
    Decision,
    DeviceState,
    Diagnostics,
    DiagnosticsRequest,
    Metrics,
    Model,
    PolicyPush,
    Receipt,
    RiskAreasPush,
    Status,
    WatchlistPush,
)
from tests.fuzz.strategies import hex64, json_values, moments, names, shorts

MESSAGES: dict[str, st.SearchStrategy[Model]] = {
    "receipt": st.builds(
        Receipt,
        device=names,
        seqs=st.lists(st.tuples(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1)), max_size=20),
    ),
    "policy": st.builds(
        PolicyPush,
        version=shorts,
        issued_at=moments,
        document=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    ),
    "watchlist": st.builds(WatchlistPush, version=shorts, issued_at=moments, pseudonyms=st.lists(hex64, max_size=5)),
    "risk_areas": st.builds(
        RiskAreasPush,
        version=shorts,
        issued_at=moments,
        regions=st.lists(st.from_regex(r"^\d{6}$", fullmatch=True), max_size=5),
    ),
    "config": st.builds(
        ConfigPush, version=shorts, issued_at=moments, metrics_interval_s=st.none() | st.floats(5, 3600)
    ),
    "status": st.builds(
        Status,
        site=names,
        device=names,
        state=st.sampled_from(DeviceState),
        boot=st.integers(0, 2**31 - 1),
        device_time=moments,
        software=shorts,
        policy_rejected=st.none() | st.text(max_size=500),
        devices=st.dictionaries(shorts, shorts, max_size=4),
    ),
    "metrics": st.builds(
        Metrics,
        site=names,
        device=names,
        device_time=moments,
        boot=st.integers(0, 2**31 - 1),
        passages=st.integers(0, 2**31 - 1),
        verdicts=st.dictionaries(st.sampled_from(Decision), st.integers(0, 2**31 - 1)),
        outbox_depth=st.integers(0, 2**31 - 1),
        outbox_capacity=st.integers(1, 2**31 - 1),
        decode_fps=st.none() | st.floats(0, 1000),
        cpu_percent=st.none() | st.floats(0, 100),
        cpu_temp_c=st.none() | st.floats(-40, 125),
    ),
    "diagnostics_request": st.builds(
        DiagnosticsRequest, id=st.uuids(), device=names, log_lines=st.integers(0, 500), issued_at=moments
    ),
    "diagnostics": st.builds(
        Diagnostics,
        site=names,
        device=names,
        request=st.uuids(),
        device_time=moments,
        checks=st.lists(st.builds(Check, name=shorts, state=st.sampled_from(CheckState), detail=st.text(max_size=200)),
                        max_size=5),
        logs=st.lists(st.text(max_size=300), max_size=10),
    ),
}
ALL_MODELS = [*UPLINK_MODELS.values(), *DOWNLINK_MODELS.values(), Receipt, DiagnosticsRequest]


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_message_survives_its_json_round_trip(kind: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[kind])
    model = type(message)
    wire = message.model_dump_json()
    assert model.model_validate_json(wire) == message
    assert model.model_validate(json.loads(wire)) == message


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_payload_fails_only_as_a_validation_error(model: type[Model], payload: bytes) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate_json(payload)


@given(
    st.lists(
        st.sampled_from(["checkpoint", "v1", "all", "down", "verdict", "status", "", "+", "#", "a"]), max_size=7
    ).map("/".join)
    | st.text(max_size=80)
)
def test_any_topic_parses_or_gives_none(topic: str) -> None:
    uplink = topics.parse_uplink(topic)
    assert uplink is None or topics.uplink(*uplink) == topic
    assert topics.parse_downlink(topic) is None or topic.startswith(topics.ROOT + "/")
