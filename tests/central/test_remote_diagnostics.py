"""Remote diagnostics end to end: a real agent on a real broker, a real central (collector and web
server) on SQLite and on PostgreSQL. An admin asks over the API; the box answers with its doctor
report and its last log lines (masked); a forged request is ignored and counted; a copy of a
request is answered once. The round trip is measured (printed, not asserted)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.app import Agent
from agent.config import AgentSettings
from central.store import Store
from checkpoint.broker import Broker, free_port
from contract import idnumber, signing, topics
from contract.messages import DiagnosticsRequest
from tests import mqtt
from tests.central.conftest import KEY, Server, add_users, run_collector, settings_for, synthetic_id
from tests.factories import CENTRAL_KEY, DOWNLINK_KEY

REQUESTS = topics.downlink("site-a", "box-a", "diagnostics")
ANSWERS = topics.uplink("site-a", "box-a", "diagnostics")


def box_settings(tmp: Path, broker: Broker, **changes: Any) -> AgentSettings:
    """box-a as central knows it (its key is the one the store fixture registered)."""
    return AgentSettings(
        site="site-a", device="box-a", signing_key={"hex": KEY.hex()}, pseudonym_key={"hex": "22" * 32},
        central_key={"hex": CENTRAL_KEY}, mqtt={"host": broker.host, "port": broker.port},
        outbox={"path": str(tmp / "outbox.sqlite")}, state_dir=str(tmp / "state"), kiosk={"port": free_port()},
        **changes,
    )


@contextmanager
def running(settings: AgentSettings) -> Iterator[Agent]:
    """The agent in a thread of this process, connected to the broker."""
    agent = Agent(settings)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"drain_timeout_s": 0})
    thread.start()
    try:
        mqtt.wait_until(lambda: agent._link is not None and agent._link.connected.is_set(), what="the agent online")
        yield agent
    finally:
        stop.set()
        thread.join(20)


@dataclass
class Fleet:
    agent: Agent
    server: Server
    admin: httpx.Client
    store: Store


@pytest.fixture
def fleet(tmp_path: Path, broker: Broker, store: Store, caplog: pytest.LogCaptureFixture) -> Iterator[Fleet]:
    caplog.set_level(logging.INFO)  # the box's log as on a box (pytest's root logger is at WARNING)
    add_users(store)
    _collector, stop, thread = run_collector(settings_for(broker), store)
    try:
        with Server(settings_for(broker), store) as server, running(box_settings(tmp_path, broker)) as agent:
            yield Fleet(agent, server, server.login("admin"), store)
    finally:
        stop.set()
        thread.join(10)


def answer_of(admin: httpx.Client, request_id: str) -> dict[str, Any]:
    """The request as the API shows it, once the box's answer is stored."""
    def answered() -> dict[str, Any] | None:
        found: dict[str, Any] = admin.get(f"/api/devices/box-a/diagnostics/{request_id}").json()
        return found if found["answer"] is not None else None

    return mqtt.wait_until(answered, timeout=20, what="the box's answer", every=0.02)


def test_an_admin_asks_a_box_and_gets_its_doctor_report_and_masked_log_lines(
    fleet: Fleet, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    person = synthetic_id(seq=42)
    logging.getLogger("agent.station").warning(f"card read: {person}", extra={"id_number": person})

    started = time.monotonic()
    asked = fleet.admin.post("/api/devices/box-a/diagnostics", json={"log_lines": 50})
    assert asked.status_code == 202, asked.text
    found = answer_of(fleet.admin, asked.json()["id"])
    round_trip = time.monotonic() - started
    with capsys.disabled():
        print(f"\ndiagnostics round trip ({fleet.store.engine.dialect.name}): {round_trip * 1000:.0f} ms")

    answer = found["answer"]
    checks = {c["name"]: c["state"] for c in answer["checks"]}
    assert {"broker", "outbox", "policy", "clock", "disk"} <= set(checks) and checks["broker"] == "ok"
    assert answer["refused_downlinks"] == 0 and answer["logs_left_out"] == 0
    lines = [json.loads(line) for line in answer["logs"]]
    assert any(line["msg"] == "agent starting" for line in lines)
    (card,) = [line for line in lines if line["msg"].startswith("card read")]
    assert card["msg"] == f"card read: {idnumber.mask(person)}" and card["id_number"] == idnumber.mask(person)
    assert person not in json.dumps(found)
    (audited,) = fleet.admin.get("/api/audit", params={"action": "diagnostics"}).json()
    assert audited["username"] == "admin" and audited["target"] == "box-a"


def test_a_forged_request_is_ignored_and_counted_and_a_copy_answered_once(
    fleet: Fleet, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    forged = DiagnosticsRequest(id=uuid.uuid4(), device="box-a", issued_at=datetime.now(UTC))
    with mqtt.collect(broker, ANSWERS) as answers, mqtt.client(broker) as stranger:
        mqtt.publish(stranger, REQUESTS, signing.seal(signing.new_downlink_key(), forged))
        mqtt.publish(stranger, REQUESTS, forged.model_dump_json())  # unsigned
        mqtt.wait_until(lambda: fleet.agent.downlinks.refused == 2, what="both refused")

        asked = fleet.admin.post("/api/devices/box-a/diagnostics", json={"log_lines": 5}).json()["id"]
        answer = answer_of(fleet.admin, asked)["answer"]
        assert answer["refused_downlinks"] == 2
        assert len(answer["logs"]) == 5

        genuine = DiagnosticsRequest(id=uuid.UUID(asked), device="box-a", log_lines=5, issued_at=datetime.now(UTC))
        mqtt.publish(stranger, REQUESTS, signing.seal(DOWNLINK_KEY, genuine))  # a copy: no second answer
        mqtt.wait_until(lambda: any(r.getMessage() == "a diagnostics request came again; answered once"
                                    for r in caplog.records), what="the copy handled")
        assert answers.qsize() == 1
        assert json.loads(answers.get().payload)["request"] == asked
    assert fleet.store.counts()["dead_letters"] == 0


def test_only_an_admin_may_ask_and_read_the_answers(fleet: Fleet) -> None:
    asked = fleet.admin.post("/api/devices/box-a/diagnostics", json={"log_lines": 1}).json()["id"]
    answer_of(fleet.admin, asked)
    for role in ("operator", "viewer"):
        client = fleet.server.login(role)
        refused = client.post("/api/devices/box-a/diagnostics", json={"log_lines": 1})
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        assert client.get(f"/api/devices/box-a/diagnostics/{asked}").status_code == 403
        assert client.get("/api/devices/box-a/metrics").status_code == 200  # the charts are for everyone
    assert fleet.admin.post("/api/devices/box-z/diagnostics", json={"log_lines": 1}).status_code == 404
    assert len(fleet.admin.get("/api/audit", params={"action": "diagnostics"}).json()) == 1
