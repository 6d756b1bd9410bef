"""Central under forged and replayed verdicts, through the real broker into SQLite and PostgreSQL.

An attacker on the network (or a box of another site) may capture a signed verdict and send it again,
alter it and keep its signature, give it a new id to have it counted twice, or sign as one box and
claim to be another. Each must be stored once or dead-lettered with the reason; none may change a
figure or open a case.
"""

from __future__ import annotations

import json
import uuid

import pytest

from central import queries
from central.ingest import Collector
from central.regions import WHOLE
from checkpoint.broker import Broker
from contract import signing, topics
from tests import mqtt
from tests.central.conftest import KEY, flagged
from tests.central.conftest import collector as collector  # fixtures shared with the central tests
from tests.central.conftest import store as store
from tests.factories import verdict

BOX_A = topics.uplink("site-a", "box-a", "verdict")
BOX_B = topics.uplink("site-a", "box-b", "verdict")
KEY_B = b"b" * 32


def _altered(wire: bytes, **fields: object) -> bytes:
    """The signed message with some fields changed and its signature kept."""
    obj = json.loads(wire)
    obj.update(fields)
    return json.dumps(obj).encode()


def _send(broker: Broker, collector: Collector, *messages: tuple[str, bytes]) -> None:
    before = collector.handled
    with mqtt.client(broker) as c:
        for topic, payload in messages:
            mqtt.publish(c, topic, payload)
        mqtt.wait_until(lambda: collector.handled == before + len(messages), what="every message handled")


def test_a_captured_verdict_sent_again_later_is_stored_once_and_opens_no_second_case(
    broker: Broker, collector: Collector
) -> None:
    wire = signing.sign(KEY, flagged(7, person=3))
    _send(broker, collector, (BOX_A, wire))
    _send(broker, collector, (BOX_A, wire), (BOX_A, wire))  # replayed, twice, after it was stored
    assert collector.store.counts() == {"stored": 1, "duplicates": 0, "dead_letters": 0}
    (case,) = queries.list_cases(collector.store.engine, WHOLE)
    assert case["verdicts"] == 1


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("a deny turned into a pass", {"decision": "pass", "reasons": []}),
        ("a new id, to be counted twice", {"id": str(uuid.uuid4())}),
        ("another sequence number, to hide a gap", {"seq": 8}),
    ],
)
def test_a_verdict_altered_under_its_signature_is_dead_lettered(
    broker: Broker, collector: Collector, name: str, change: dict[str, object]
) -> None:
    wire = signing.sign(KEY, flagged(7, person=3))
    _send(broker, collector, (BOX_A, _altered(wire, **change)))
    assert collector.store.counts() == {"stored": 0, "duplicates": 0, "dead_letters": 1}, name
    (dead,) = collector.store.dead_letters()
    assert "signature" in dead["reason"]
    assert queries.list_cases(collector.store.engine, WHOLE) == []


def test_one_box_cannot_speak_for_another(broker: Broker, collector: Collector) -> None:
    collector.store.register_device("box-b", "site-a", "traffic", KEY_B.hex())
    as_b_signed_by_a = signing.sign(KEY, verdict(device="box-b"))
    a_on_b_topic = signing.sign(KEY, verdict(device="box-a"))
    _send(broker, collector, (BOX_B, as_b_signed_by_a), (BOX_B, a_on_b_topic))
    reasons = sorted(d["reason"] for d in collector.store.dead_letters())
    assert collector.store.counts()["stored"] == 0
    assert any("signature" in r for r in reasons) and any("another box" in r for r in reasons)
