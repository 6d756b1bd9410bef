"""Remote diagnostics at central, over a real broker and real SQLite / PostgreSQL: an admin's request
goes out signed, the box's answer is stored beside it, and an answer that is too big, malformed,
forged, unasked or carries a full ID number is refused with the reason. Each box's metrics history
is kept for the charts, and purged after its time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from agent.diagnostics import answer
from central import audit, diagnostics, retention
from central.auth import Role, User
from central.config import RetentionSettings
from central.ingest import Collector
from central.intake import check
from central.regions import WHOLE, scope_of
from central.schema import device_metrics
from central.schema import diagnostics as diagnostics_table
from central.sql import now
from central.store import Batch, Store
from checkpoint.broker import Broker
from contract import signing, topics
from contract.messages import Check, CheckState, Diagnostics, DiagnosticsRequest
from tests import mqtt
from tests.central.conftest import KEY, settings_for, synthetic_id
from tests.central.test_regions import add_tree
from tests.factories import DOWNLINK_KEY, metrics

ADMIN = User(id=1, username="admin", role=Role.ADMIN)
ANSWERS = topics.uplink("site-a", "box-a", "diagnostics")
REQUESTS = topics.downlink("site-a", "box-a", "diagnostics")
CHECKS = [Check(name="clock", state=CheckState.OK, detail="synchronised (NTP)")]


def answered(request: DiagnosticsRequest, lines: list[str], key: bytes = KEY) -> bytes:
    """The box's answer as agent.diagnostics makes it."""
    return answer(key, request, site="site-a", software="test", checks=CHECKS, lines=lines, refused_downlinks=0)


def ask(broker: Broker, store: Store, log_lines: int = 20) -> DiagnosticsRequest:
    """Ask as the devices page does; the request as the box receives it (its signature checked)."""
    with mqtt.collect(broker, REQUESTS) as sent:
        settings = settings_for(broker)
        request_id = diagnostics.ask(store.engine, settings.mqtt, settings.downlink_signer, "box-a", log_lines,
                                     ADMIN, WHOLE, "192.0.2.1")
        wire = sent.get(timeout=5).payload
    request = signing.opened(DOWNLINK_KEY.public_key(), wire, DiagnosticsRequest)
    assert str(request.id) == request_id and request.log_lines == log_lines
    return request


def test_an_answer_is_stored_with_its_request_and_the_request_audited(broker: Broker, collector: Collector) -> None:
    store = collector.store
    request = ask(broker, store)
    (entry,) = audit.recent(store.engine, WHOLE, action="diagnostics")
    assert entry["username"] == "admin" and entry["target"] == "box-a" and str(request.id) in entry["detail"]
    wire = answered(request, [json.dumps({"msg": f"line {n}"}) for n in range(30)])
    with mqtt.client(broker) as box:
        mqtt.publish(box, ANSWERS, wire)
        mqtt.publish(box, ANSWERS, wire)  # QoS 1 delivers at least once: the copy changes nothing
        mqtt.wait_until(lambda: collector.handled == 2, what="both copies")
    found = diagnostics.request(store.engine, "box-a", str(request.id))
    assert found is not None and found["answered_at"] is not None
    assert [json.loads(line)["msg"] for line in found["answer"]["logs"]] == [f"line {n}" for n in range(10, 30)]
    assert found["answer"]["checks"] == [c.model_dump(mode="json") for c in CHECKS]
    assert store.counts()["dead_letters"] == 0


def unasked() -> bytes:
    request = DiagnosticsRequest(id=uuid.uuid4(), device="box-a", issued_at=datetime.now(UTC))
    return answered(request, ["{}"])


def with_lines(lines: list[str], **changes: object) -> bytes:
    """An answer signed with box-a's key, whatever it holds (the contract's bounds not applied)."""
    message = Diagnostics(site="site-a", device="box-a", request=uuid.uuid4(), device_time=datetime.now(UTC),
                          checks=CHECKS, logs=[])
    obj = {**message.model_dump(mode="json", exclude={"sig"}), "logs": lines, **changes}
    return json.dumps({**obj, "sig": signing.signature(KEY, obj)}).encode()


BAD = [
    ("unasked", unasked(), "a diagnostics answer to no request central made to box-a"),
    ("oversize", with_lines(["x" * 2000] * 40), "payload of 80"),
    ("too many log lines", with_lines(["{}"] * 501),
     "not a valid diagnostics message: field `logs`: List should have at most 500 items"),
    ("malformed check", with_lines([], checks=[{"name": "disk", "state": "broken", "detail": ""}]),
     "not a valid diagnostics message: field `checks.0.state`"),
    ("forged", answered(DiagnosticsRequest(id=uuid.uuid4(), device="box-a", issued_at=datetime.now(UTC)), [],
                        key=b"x" * 32), "bad or missing signature"),
    ("full ID number", with_lines([json.dumps({"msg": f"card {synthetic_id(seq=7)} read"})]),
     "privacy: 1 log line(s) carry a full ID number; stored without the log lines"),
]


@pytest.mark.parametrize(("name", "payload", "reason"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_answer_is_refused_with_the_reason(
    broker: Broker, collector: Collector, name: str, payload: bytes, reason: str
) -> None:
    with mqtt.client(broker) as box:
        mqtt.publish(box, ANSWERS, payload)
        mqtt.wait_until(lambda: collector.handled == 1, what="the answer handled")
    (dead,) = collector.store.dead_letters()
    assert dead["reason"].startswith(reason), dead["reason"]
    assert synthetic_id(seq=7).encode() not in dead["payload"]


def test_the_metrics_history_and_the_answers_are_purged_after_their_time(store: Store) -> None:
    keys = {"box-a": type("K", (), {"site": "site-a", "key": KEY, "revoked": False})()}
    topic = topics.uplink("site-a", "box-a", "metrics")
    reports = [check(topic, signing.sign(KEY, metrics(order=n, outbox_depth=n, cpu_percent=10.0 * n)), keys,  # type: ignore[arg-type]
                     max_bytes=65536).row for n in range(1, 4)]
    store.write_batch(Batch(reports=reports))
    rows = diagnostics.metrics_history(store.engine, "box-a", now() - timedelta(hours=1))
    assert [(r["outbox_depth"], r["cpu_percent"]) for r in rows] == [(1, 10.0), (2, 20.0), (3, 30.0)]
    with store.engine.begin() as conn:
        first = conn.scalar(select(device_metrics.c.id).order_by(device_metrics.c.id))
        conn.execute(update(device_metrics).where(device_metrics.c.id == first)
                     .values(received_at=now() - timedelta(days=8)))
    with store.engine.begin() as conn:
        for days, request_id in ((31, "old"), (29, "recent")):
            conn.execute(diagnostics_table.insert().values(id=request_id, device="box-a", site="site-a",
                                                           requested_by="admin", log_lines=1,
                                                           requested_at=now() - timedelta(days=days)))
    done = retention.purge(store.engine, RetentionSettings(metrics_days=7, diagnostics_days=30))
    assert done["metrics"] == 1 and done["diagnostics"] == 1
    assert len(diagnostics.metrics_history(store.engine, "box-a", now() - timedelta(days=30))) == 2
    assert [r["id"] for r in diagnostics.requests(store.engine, "box-a")] == ["recent"]


def test_an_admin_reaches_only_the_boxes_of_their_scope(broker: Broker, store: Store) -> None:
    add_tree(store)
    store.register_device("box-w", "west-1", "traffic", KEY.hex(), region="420103")
    with store.engine.connect() as conn:
        east, west = scope_of(conn, "420102"), scope_of(conn, "420103")
    assert diagnostics.visible(store.engine, west, "box-w") and not diagnostics.visible(store.engine, east, "box-w")
    settings = settings_for(broker)
    with pytest.raises(diagnostics.NoSuchBox):  # as if it did not exist
        diagnostics.ask(store.engine, settings.mqtt, settings.downlink_signer, "box-w", 10, ADMIN, east, "")
    assert diagnostics.requests(store.engine, "box-w") == []
    assert audit.recent(store.engine, WHOLE, action="diagnostics") == []
