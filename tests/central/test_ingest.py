"""The collector against a real Mosquitto and real SQLite / PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from central import queries
from central.ingest import Collector
from central.regions import WHOLE
from central.sql import aware
from central.store import Batch, Conflict
from checkpoint.broker import Broker
from contract import signing, topics
from contract.messages import WILL_ORDER, Metrics, Reason, Receipt, Status, TemperatureInput
from tests import mqtt
from tests.central.conftest import KEY, flagged
from tests.factories import DOWNLINK_KEY, metrics, status, verdict

VERDICT_TOPIC = topics.uplink("site-a", "box-a", "verdict")
STATUS_TOPIC = topics.uplink("site-a", "box-a", "status")
METRICS_TOPIC = topics.uplink("site-a", "box-a", "metrics")


def test_a_verdict_delivered_twice_is_stored_once_and_receipted(broker: Broker, collector: Collector) -> None:
    wire = signing.sign(KEY, verdict(seq=5))
    with mqtt.collect(broker, topics.downlink("site-a", "box-a", "receipt")) as receipts, mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, wire)
        mqtt.publish(c, VERDICT_TOPIC, wire)
        mqtt.wait_until(lambda: collector.handled == 2, what="both deliveries")
        assert Receipt.model_validate_json(receipts.get(timeout=5).payload).expand() == [5]
    assert collector.store.counts() == {"stored": 1, "duplicates": 0, "dead_letters": 0}
    (figures,) = queries.daily(collector.store.engine, verdict().device_time.date().replace(day=1),
                               verdict().device_time.date().replace(year=2100), WHOLE)
    assert figures["total"] == 1 and figures["passed"] == 1  # the second delivery did not count


def test_a_box_whose_status_says_it_checks_mac_receipts_gets_them_mac_d_with_its_key(
    broker: Broker, collector: Collector
) -> None:
    """An HMAC (2 µs) instead of an Ed25519 signature (80 µs) per receipt, for a box whose last status
    said it checks them; a box whose status does not say so (older software) gets them signed."""
    central = DOWNLINK_KEY.public_key()
    with mqtt.collect(broker, topics.downlink("site-a", "box-a", "receipt")) as receipts, mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, verdict(seq=1)))
        assert len(json.loads(receipts.get(timeout=5).payload)["sig"]) == 128  # nothing said yet: signed
        mqtt.publish(c, STATUS_TOPIC, signing.sign(KEY, status(order=1)), user=[signing.RECEIPT_MAC])
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, verdict(seq=2)))
        mac_d = receipts.get(timeout=5).payload
        assert collector.store.device_keys()["box-a"].mac_receipts  # for every worker, from the registry
        mqtt.publish(c, STATUS_TOPIC, signing.sign(KEY, status(order=2)))  # rolled back to older software
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, verdict(seq=3)))
        signed = receipts.get(timeout=5).payload
    assert len(json.loads(mac_d)["sig"]) == 64
    assert signing.opened(central, mac_d, Receipt, box_key=KEY).expand() == [2]
    with pytest.raises(signing.BadSignature):
        signing.opened(central, mac_d, Receipt, box_key=bytes(32))  # another box's key
    with pytest.raises(signing.BadSignature):
        signing.opened(central, mac_d, Receipt)  # a box that does not check MACs
    assert signing.opened(central, signed, Receipt).expand() == [3]
    assert collector.store.device_keys()["box-a"].mac_receipts is False  # and so stored


def test_a_verdict_is_stored_as_the_bytes_it_came_in(broker: Broker, collector: Collector) -> None:
    """Not re-encoded on the way in: the database holds the message exactly as the box sent it (here
    with whitespace a box would not send, which the signature, over the canonical form, allows)."""
    spaced = json.dumps(json.loads(signing.sign(KEY, verdict(seq=3))), indent=1, ensure_ascii=False)
    with mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, spaced.encode())
        mqtt.wait_until(lambda: collector.handled == 1, what="the verdict")
    with collector.store.engine.connect() as conn:
        assert conn.scalar(text("SELECT CAST(payload AS TEXT) FROM verdicts")) == spaced


def test_a_verdict_is_verified_where_orjson_writes_its_canonical_form_otherwise(
    broker: Broker, collector: Collector
) -> None:
    """Central writes the canonical form with orjson, the box with json.dumps; where they differ (a float
    json.dumps writes as 1e-05) the signature is checked over json.dumps's form too."""
    reading = TemperatureInput(body_c=36.6, object_c=36.6, offset_c=1e-05, sensor="gy-mcu")
    v = verdict(seq=4, inputs=verdict().inputs.model_copy(update={"temperature": reading}))
    obj = json.loads(signing.sign(KEY, v))
    assert orjson.dumps({k: x for k, x in obj.items() if k != "sig"}, option=orjson.OPT_SORT_KEYS) \
        != signing.canonical(obj)  # the case this test is about
    with mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, v))
        mqtt.wait_until(lambda: collector.handled == 1, what="the verdict")
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


def test_statuses_are_ordered_by_the_box_counters_not_its_clock(broker: Broker, collector: Collector) -> None:
    """The will is stamped when the box starts and its clock may be hours off: neither decides."""
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    ahead = start + timedelta(hours=5)  # a box whose clock is five hours ahead
    sent = 0

    def send(topic: str, message: Status | Metrics) -> None:
        nonlocal sent
        mqtt.publish(c, topic, signing.sign(KEY, message))
        sent += 1
        mqtt.wait_until(lambda: collector.handled == sent, what=f"message {sent}")

    with mqtt.client(broker) as c:
        send(STATUS_TOPIC, status(boot=3, connection=1, order=1, at=ahead, policy_version="p-7",
                                  devices={"idcard": "ok"}))
        send(METRICS_TOPIC, metrics(boot=3, connection=1, order=2, at=ahead, outbox_depth=4))
        send(STATUS_TOPIC, status("offline", boot=2, connection=9, order=WILL_ORDER, at=ahead + timedelta(hours=1)))
        (row,) = collector.store.device_status()
        assert (row["state"], row["boot"], row["policy_version"]) == ("online", 3, "p-7")  # an old boot's death
        assert row["health"] == {"idcard": "ok"} and row["metrics"]["outbox_depth"] == 4
        send(STATUS_TOPIC, status("offline", boot=3, connection=1, order=WILL_ORDER, at=start))  # the will
        (device,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
        assert device["state"] == "offline" and not device["online"] and device["outbox_depth"] == 4
        send(STATUS_TOPIC, status(boot=3, connection=2, order=3, at=start))  # clock corrected, back online
        (device,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
        assert device["state"] == "online" and device["online"]
        send(METRICS_TOPIC, metrics(boot=3, connection=1, order=2, at=ahead))  # a late one of connection 1
    (device,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert device["state"] == "online" and device["clock_offset_s"] < -3600 and device["clock_off"]


def test_an_unsigned_or_forged_status_is_a_dead_letter(broker: Broker, collector: Collector) -> None:
    with mqtt.client(broker) as c:
        mqtt.publish(c, STATUS_TOPIC, status("offline").model_dump_json())
        mqtt.publish(c, STATUS_TOPIC, signing.sign(b"x" * 32, status("offline")))
        mqtt.publish(c, METRICS_TOPIC, metrics().model_dump_json())
        mqtt.wait_until(lambda: collector.handled == 3, what="three reports")
    assert collector.store.device_status() == []
    assert collector.store.counts()["dead_letters"] == 3  # a known box's repeats are counted, one kept
    assert [d["reason"] for d in collector.store.dead_letters()] == ["bad or missing signature"]


def test_sequence_gaps_show_what_a_box_never_delivered(broker: Broker, collector: Collector) -> None:
    with mqtt.client(broker) as c:
        for seq in (1, 2, 3, 6, 7, 10):
            mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, verdict(seq=seq)))
        mqtt.wait_until(lambda: collector.handled == 6, what="six verdicts")
    (device,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert (device["max_seq"], device["stored"], device["missing"]) == (10, 6, 4)
    assert device["online"]  # a verdict is a sign of life
    assert queries.gaps(collector.store.engine, "box-a", WHOLE) == [(4, 5), (8, 9)]


def test_flagged_verdicts_open_one_case_per_person_from_the_first_checkpoint(
    broker: Broker, collector: Collector
) -> None:
    first, later = flagged(1, person=7), flagged(2, person=7, reason=Reason.FEVER_CONFIRMED)
    other = flagged(3, person=8, reason=Reason.CODE_YELLOW)
    with mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, later))  # arrives first, happened later
        mqtt.wait_until(lambda: collector.handled == 1, what="the later verdict")
        for v in (first, other, verdict(seq=4)):
            mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, v))
        mqtt.wait_until(lambda: collector.handled == 4, what="the other verdicts")
    cases = sorted(queries.list_cases(collector.store.engine, WHOLE), key=lambda r: r["id"])
    assert len(cases) == 2
    seven = queries.case(collector.store.engine, cases[0]["id"], WHOLE)
    assert seven is not None
    assert seven["verdicts"] == 2 and seven["severity"] == "deny" and seven["status"] == "new"
    assert set(seven["reasons"]) == {"code_red", "fever_confirmed"}
    assert aware(seven["first_seen"]) == first.device_time
    assert [e["action"] for e in seven["events"]] == ["opened", "joined"]
    assert {v["id"] for v in seven["verdicts_list"]} == {str(first.id), str(later.id)}
    assert "identity" not in seven and cases[1]["severity"] == "review"


def test_a_row_the_database_refuses_becomes_a_dead_letter_and_the_rest_is_stored(
    broker: Broker, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = collector.store.write_batch

    def refusing(batch: Batch) -> list[Conflict]:
        if any(r["seq"] == 13 for r in batch.verdicts):
            raise DataError("INSERT ...", {}, Exception("value too long for type character varying(16)"))
        return real(batch)

    monkeypatch.setattr(collector.store, "write_batch", refusing)
    with mqtt.collect(broker, topics.downlink("site-a", "box-a", "receipt")) as receipts, mqtt.client(broker) as c:
        for seq in (12, 13, 14):
            c.publish(VERDICT_TOPIC, signing.sign(KEY, verdict(seq=seq)), qos=1)
        mqtt.wait_until(lambda: collector.handled == 3, what="three messages")
        got: set[int] = set()
        while not {12, 14} <= got:
            got |= set(Receipt.model_validate_json(receipts.get(timeout=5).payload).expand())
    assert 13 not in got
    assert collector.store.counts() == {"stored": 2, "duplicates": 0, "dead_letters": 1}
    (dead,) = collector.store.dead_letters()
    assert dead["reason"].startswith("storage refused: value too long")


def test_a_known_box_rejected_again_and_again_is_counted_not_stored_each_time(
    broker: Broker, collector: Collector
) -> None:
    """A revoked box resends forever (it never gets a receipt): one row per kind, not one per message,
    and nothing of what a revoked box sent is kept. A registered box whose signatures fail alike."""
    store = collector.store
    store.revoke_device("box-a")
    store.register_device("box-b", "site-a", "traffic", (b"b" * 32).hex())
    forged = topics.uplink("site-a", "box-b", "verdict")
    with mqtt.client(broker) as c:
        for n in range(30):
            mqtt.publish(c, VERDICT_TOPIC, signing.sign(KEY, flagged(n % 3 + 1, person=n % 3 + 1)))
        for n in range(10):
            mqtt.publish(c, forged, signing.sign(b"x" * 32, verdict(seq=n + 1, device="box-b")))
        mqtt.wait_until(lambda: collector.handled == 40, what="forty messages acknowledged")
    assert store.counts() == {"stored": 0, "duplicates": 0, "dead_letters": 40}
    kept = {d["topic"]: d for d in store.dead_letters()}
    assert set(kept) == {VERDICT_TOPIC, forged}  # the first of each kind
    assert kept[VERDICT_TOPIC]["payload"] == b"" and "revoked" in kept[VERDICT_TOPIC]["reason"]
    assert kept[forged]["payload"] != b"" and "signature" in kept[forged]["reason"]
    by_device = queries.rejections_by_device(store.engine, WHOLE)
    counted = {d: [(r["reason"], r["count"]) for r in rows] for d, rows in by_device.items()}
    assert counted == {"box-a": [("device 'box-a' is revoked", 30)], "box-b": [("bad or missing signature", 10)]}
