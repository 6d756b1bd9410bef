"""What central sends (over a real broker) reaches the box, or is refused with the reason: pushes must
be signed by central and newer than the last one; receipts must be signed and name this box's life."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agent.app import Agent
from agent.commands import RecordPassage
from agent.config import AgentSettings
from agent.direct_station import facts_of
from agent.policy import DEFAULT_POLICY, Policy
from agent.travellers import TravellerMix
from checkpoint.broker import Broker, free_port
from contract import signing, topics
from contract.messages import PolicyPush, Receipt, RegistrationsPush, RiskAreasPush, Status, WatchlistPush
from tests import mqtt
from tests.factories import CENTRAL_KEY, DOWNLINK_KEY

POLICY = Policy.from_yaml(DEFAULT_POLICY)
STATUS = topics.uplink("site-d", "box-d", "status")


def settings(tmp: Path, broker: Broker) -> AgentSettings:
    return AgentSettings(
        site="site-d",
        device="box-d",
        signing_key={"hex": "11" * 32},
        pseudonym_key={"hex": "22" * 32},
        central_key={"hex": CENTRAL_KEY},
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


def push(broker: Broker, what: str, message: object, *, broadcast: bool = True, key: object = DOWNLINK_KEY) -> None:
    """Publish as central would (signed with `key`; bytes: MAC'd with that box key; None: unsigned, as a
    stranger could)."""
    topic = topics.broadcast(what) if broadcast else topics.downlink("site-d", "box-d", what)
    if isinstance(key, bytes):
        message = signing.sign(key, message)  # type: ignore[arg-type]
    elif hasattr(message, "model_dump_json"):
        message = signing.seal(key, message) if key is not None else message.model_dump_json()  # type: ignore
    with mqtt.client(broker) as c:
        mqtt.publish(c, topic, message, retain=what != "receipt")  # type: ignore[arg-type]


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


def test_pre_registrations_arrive_and_count_only_around_their_day(running: Agent, broker: Broker) -> None:
    today = date.today()
    now, old, later = "ab" * 32, "cd" * 32, "ef" * 32
    arrivals = {"420102001003": {today: [now], today - timedelta(days=4): [old]},
                "420102": {today + timedelta(days=5): [later]}}
    push(broker, "registrations", RegistrationsPush(version="reg-1", issued_at=datetime.now(UTC), arrivals=arrivals,
                                                    places={"420102001003": "天声街社区"}))
    registrations = running.downlinks.lists
    mqtt.wait_until(lambda: registrations.registrations.version == "reg-1", what="the pre-registrations")
    found = registrations.registrations.find(now, today)
    assert found is not None and (found.destination, found.place) == ("420102001003", "天声街社区")
    assert registrations.registrations.find(old, today) is None  # past its last day (3 after)
    assert registrations.registrations.find(later, today) is None  # not yet (1 day before)
    assert registrations.registrations.find(later, today + timedelta(days=4)) is not None
    assert registrations.registrations.find(None, today) is None


def test_garbage_on_a_downlink_topic_changes_nothing(running: Agent, broker: Broker) -> None:
    mqtt.wait_until(lambda: running.station is not None, what="the agent")
    push(broker, "watchlist", b"\xff not json")
    push(broker, "policy", b'{"type": "policy"}')
    mqtt.wait_until(lambda: running.downlinks.policy_rejected is not None, what="the refusal")
    assert running.downlinks.policy().version == POLICY.version
    assert running.downlinks.lists.watchlist == frozenset()


def test_a_policy_not_signed_by_central_is_refused_and_reported(running: Agent, broker: Broker) -> None:
    mqtt.wait_until(lambda: running.station is not None, what="the agent")
    push(broker, "policy", policy_push("forged-1", fever_c=41.0), key=None)
    mqtt.wait_until(lambda: running.downlinks.policy_rejected is not None, what="the refusal")
    assert "not signed by central" in (running.downlinks.policy_rejected or "")
    push(broker, "policy", policy_push("forged-2", fever_c=41.0), key=signing.new_downlink_key())
    mqtt.wait_until(lambda: "does not match" in (running.downlinks.policy_rejected or ""), what="the refusal")
    assert running.downlinks.policy().version == POLICY.version


def test_a_replayed_older_push_is_refused(running: Agent, broker: Broker) -> None:
    mqtt.wait_until(lambda: running.station is not None, what="the agent")
    old, new = policy_push("county-1"), policy_push("county-2")
    push(broker, "policy", new)
    mqtt.wait_until(lambda: running.downlinks.policy().version == "county-2", what="the new policy")
    push(broker, "policy", old)  # genuine, signed, but older: a stranger replaying it
    mqtt.wait_until(lambda: "replayed" in (running.downlinks.policy_rejected or ""), what="the refusal")
    assert running.downlinks.policy().version == "county-2"


def test_forged_receipts_delete_nothing(running: Agent, broker: Broker) -> None:
    """A receipt naming every sequence number, unsigned, signed by another key, MAC'd with another box's
    key, or for another life; then genuine ones, signed by central and MAC'd with the box's own key."""
    mqtt.wait_until(lambda: running.station is not None, what="the agent")
    station = running.station
    assert station is not None
    mix = TravellerMix(7)
    for _ in range(3):
        station.submit(RecordPassage(facts=facts_of(mix.next(), station.recorder.policy())))
    outbox = running._outbox
    assert outbox is not None
    mqtt.wait_until(lambda: outbox.last_seq == 3, what="three verdicts recorded")
    everything = Receipt(device="box-d", epoch=outbox.epoch, seqs=[(1, 2**31 - 1)])
    push(broker, "receipt", everything, broadcast=False, key=None)
    push(broker, "receipt", everything, broadcast=False, key=signing.new_downlink_key())
    push(broker, "receipt", everything, broadcast=False, key=bytes.fromhex("33" * 32))
    other_life = everything.model_copy(update={"epoch": "f" * 16})
    push(broker, "receipt", other_life, broadcast=False)
    # central's own receipt for one row, handled after the forged ones (one queue): only that row goes
    push(broker, "receipt", Receipt(device="box-d", epoch=outbox.epoch, seqs=[(1, 1)]), broadcast=False)
    mqtt.wait_until(lambda: outbox.depth() < 3, what="the genuine receipt")
    assert outbox.depth() == 2
    push(broker, "receipt", everything, broadcast=False, key=bytes.fromhex("11" * 32))
    mqtt.wait_until(lambda: outbox.depth() == 0, what="the receipt MAC'd with the box's key, for the rest")
