"""The collector against a real Mosquitto and real SQLite / PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import CentralSettings
from central.ingest import Collector
from central.store import Store
from checkpoint.broker import Broker
from contract import signing, topics
from contract.messages import Receipt
from tests import mqtt
from tests.factories import verdict

KEY = b"k" * 32
VERDICT_TOPIC = topics.uplink("site-a", "box-a", "verdict")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'central.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store(url)
    s.migrate()
    s.register_device("box-a", "site-a", "traffic", KEY.hex())
    yield s
    s.dispose()


@pytest.fixture
def collector(broker: Broker, store: Store) -> Iterator[Collector]:
    settings = CentralSettings(mqtt={"host": broker.host, "port": broker.port}, ingest={"batch_wait_ms": 10})
    c = Collector(settings, store)
    stop = threading.Event()
    thread = threading.Thread(target=c.run, args=(stop,))
    thread.start()
    assert c.subscribed.wait(10)
    yield c
    stop.set()
    thread.join(10)


def test_a_verdict_delivered_twice_is_stored_once_and_receipted(broker: Broker, collector: Collector) -> None:
    wire = signing.sign(KEY, verdict(seq=5))
    with mqtt.collect(broker, topics.downlink("site-a", "box-a", "receipt")) as receipts, mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, wire)
        mqtt.publish(c, VERDICT_TOPIC, wire)
        mqtt.wait_until(lambda: collector.handled == 2, what="both deliveries")
        assert Receipt.model_validate_json(receipts.get(timeout=5).payload).expand() == [5]
    assert collector.store.counts() == {"stored": 1, "duplicates": 0, "dead_letters": 0}


BAD = [
    ("not JSON", VERDICT_TOPIC, b"\xff\xfe garbage", "not JSON"),
    ("JSON but not an object", VERDICT_TOPIC, b"[1, 2]", "not a JSON object"),
    ("not a verdict", VERDICT_TOPIC, json.dumps({"type": "verdict", "seq": -1}).encode(), "not a valid verdict"),
    ("unsigned", VERDICT_TOPIC, verdict().model_dump_json().encode(), "signature"),
    ("forged", VERDICT_TOPIC, signing.sign(b"x" * 32, verdict()), "signature"),
    ("unknown box", topics.uplink("site-a", "box-z", "verdict"), signing.sign(KEY, verdict(device="box-z")),
     "unknown device"),
    ("topic names another box", topics.uplink("site-a", "box-a", "verdict"),
     signing.sign(KEY, verdict(device="box-b")), "another box"),
    ("oversized", VERDICT_TOPIC, b"{" + b" " * 70_000 + b"}", "over the"),
]


@pytest.mark.parametrize(("name", "topic", "payload", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_messages_are_dead_lettered_and_ingest_goes_on(
    broker: Broker, collector: Collector, name: str, topic: str, payload: bytes, reason: str
) -> None:
    with mqtt.client(broker) as c:
        mqtt.publish(c, topic, payload)
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, verdict(seq=1)))
        mqtt.wait_until(lambda: collector.handled == 2, what="the bad and the good message")
    assert collector.store.counts() == {"stored": 1, "duplicates": 0, "dead_letters": 1}
    (dead,) = collector.store.dead_letters()
    assert reason in dead["reason"] and dead["topic"] == topic


def test_status_and_metrics_update_the_device(broker: Broker, collector: Collector) -> None:
    birth = {"site": "site-a", "device": "box-a", "state": "online", "boot": 3,
             "device_time": "2026-11-23T10:00:00Z", "policy_version": "p-7", "devices": {"idcard": "ok"}}
    metrics = {"site": "site-a", "device": "box-a", "device_time": "2026-11-23T10:00:05Z", "boot": 3,
               "passages": 12, "outbox_depth": 4, "outbox_capacity": 100}
    with mqtt.client(broker) as c:
        mqtt.publish(c, topics.uplink("site-a", "box-a", "status"), json.dumps(birth))
        mqtt.publish(c, topics.uplink("site-a", "box-a", "metrics"), json.dumps(metrics))
        mqtt.wait_until(lambda: collector.handled == 2, what="status and metrics")
    (row,) = collector.store.device_status()
    assert (row["state"], row["boot"], row["policy_version"]) == ("online", 3, "p-7")
    assert row["health"] == {"idcard": "ok"} and row["metrics"]["outbox_depth"] == 4
