"""What central pushes (retained, over a real broker) reaches the box, or is refused with the reason."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.app import Agent
from agent.config import AgentSettings
from agent.policy import DEFAULT_POLICY, Policy
from checkpoint.broker import Broker, free_port
from contract import topics
from contract.messages import PolicyPush, RiskAreasPush, Status, WatchlistPush
from tests import mqtt

POLICY = Policy.from_yaml(DEFAULT_POLICY)
STATUS = topics.uplink("site-d", "box-d", "status")


def settings(tmp: Path, broker: Broker) -> AgentSettings:
    return AgentSettings(
        site="site-d",
        device="box-d",
        signing_key={"hex": "11" * 32},
        pseudonym_key={"hex": "22" * 32},
        mqtt={"host": broker.host, "port": broker.port},
        outbox={"path": str(tmp / "outbox.sqlite")},
        state_dir=str(tmp / "state"),
        kiosk={"port": free_port()},
    )


@pytest.fixture
def running(tmp_path: Path, broker: Broker) -> Iterator[Agent]:
    agent = Agent(settings(tmp_path, broker))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"drain_timeout_s": 0})
    thread.start()
    yield agent
    stop.set()
    thread.join(20)


def push(broker: Broker, what: str, message: object, *, broadcast: bool = True) -> None:
    topic = topics.broadcast(what) if broadcast else topics.downlink("site-d", "box-d", what)
    with mqtt.client(broker) as c:
        mqtt.publish(
            c, topic, message.model_dump_json() if hasattr(message, "model_dump_json") else message, retain=True
        )


def policy_push(version: str, **changes: object) -> PolicyPush:
    document = POLICY.model_dump(mode="json") | {"version": version} | changes
    return PolicyPush(version=version, issued_at=datetime.now(UTC), document=document)


def test_a_pushed_policy_is_applied_and_a_bad_one_refused_with_the_reason(running: Agent, broker: Broker) -> None:
    with mqtt.collect(broker, STATUS) as got:
        mqtt.wait_until(lambda: running.station is not None, what="the agent")
        push(broker, "policy", policy_push("county-2026-11-24", fever_c=38.0))
        mqtt.wait_until(lambda: running.downlinks.policy().version == "county-2026-11-24", what="the new policy")
        assert running.downlinks.policy().fever_c == 38.0

        push(broker, "policy", policy_push("broken-1", fever_c=45.0))  # outside the plausible range
        mqtt.wait_until(lambda: running.downlinks.policy_rejected is not None, what="the refusal")
        assert "fever_c" in (running.downlinks.policy_rejected or "")
        assert running.downlinks.policy().version == "county-2026-11-24"  # the old one stays
        mqtt.wait_until(lambda: got.qsize() >= 3, what="three births")  # start, applied, refused
        births = [Status.model_validate_json(got.get().payload) for _ in range(got.qsize())]
    assert any(b.policy_version == "county-2026-11-24" and not b.policy_rejected for b in births)
    assert births[-1].policy_version == "county-2026-11-24" and "fever_c" in (births[-1].policy_rejected or "")


def test_watch_list_and_risk_areas_arrive_and_survive_a_restart(tmp_path: Path, broker: Broker) -> None:
    pseudonym = "ab" * 32
    push(broker, "watchlist", WatchlistPush(version="w-1", issued_at=datetime.now(UTC), pseudonyms=[pseudonym]))
    push(
        broker,
        "risk_areas",
        RiskAreasPush(version="r-1", issued_at=datetime.now(UTC), regions=["440300"]),
        broadcast=False,
    )
    for attempt in range(2):  # the second run gets them from its saved state, the broker being down
        if attempt == 1:
            broker.stop()
        agent = Agent(settings(tmp_path, broker))
        stop = threading.Event()
        thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"drain_timeout_s": 0})
        thread.start()
        try:
            lists = agent.downlinks.lists
            mqtt.wait_until(
                lambda lists=lists: pseudonym in lists.watchlist and "440300" in lists.risk_areas,
                what="the pushed lists",
            )
        finally:
            stop.set()
            thread.join(20)
    saved = json.loads((tmp_path / "state" / "watchlist.json").read_text())
    assert saved["version"] == "w-1"


def test_garbage_on_a_downlink_topic_changes_nothing(running: Agent, broker: Broker) -> None:
    mqtt.wait_until(lambda: running.station is not None, what="the agent")
    push(broker, "watchlist", b"\xff not json")
    push(broker, "policy", b'{"type": "policy"}')
    mqtt.wait_until(lambda: running.downlinks.policy_rejected is not None, what="the refusal")
    assert running.downlinks.policy().version == POLICY.version
    assert running.downlinks.lists.watchlist == frozenset()
