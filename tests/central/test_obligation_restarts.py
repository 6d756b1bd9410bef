"""Obligations through what a real central lives through: killed with SIGKILL in the middle of a
stream of travellers who owe follow-ups (each owed once after the restart), and down when an
obligation's deadline passes (marked overdue, once, when it is back)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.schema import alerts, case_events
from central.sql import now
from central.store import Store
from checkpoint.broker import Broker
from contract import signing, topics
from tests import mqtt
from tests.central.conftest import KEY, CentralProcess, db_url
from tests.central.obligation_helpers import owed, plant, traveller

HOOK = "http://127.0.0.1:9/hook"  # nobody listens: the alert stays queued, to be counted


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    found = db_url(request, tmp_path, request.param)
    store = Store(found)
    store.migrate()
    plant(store)
    store.dispose()
    yield found


def _publish(broker: Broker, people: range) -> None:
    """At a busy checkpoint's pace, 200 travellers a second: the stream lasts seconds whatever central's
    speed, so a kill a hundred obligations in lands in the middle of it (all at once, a fast central
    once had the whole stream stored before the kill)."""
    with mqtt.client(broker) as box:
        pending = []
        for n in people:
            pending.append(box.publish(topics.uplink("site-a", "box-a", "verdict"),
                                       signing.sign(KEY, traveller(n, n, "risk")), qos=1))
            time.sleep(0.005)
        for info in pending:
            info.wait_for_publish(timeout=30)


def test_killed_mid_stream_each_follow_up_is_owed_once(tmp_path: Path, broker: Broker, url: str) -> None:
    store = Store(url)
    process = CentralProcess(tmp_path, broker, url)
    process.start()
    try:
        people = range(1, 801)  # each owes a test on arrival and a registration
        box = threading.Thread(target=_publish, args=(broker, people))
        box.start()
        mqtt.wait_until(lambda: len(owed(store)) >= 100, timeout=60, what="obligations under way")
        process.kill()
        at_kill = len(owed(store))
        box.join(60)
        process.start()
        mqtt.wait_until(lambda: len(owed(store)) == 2 * len(people), timeout=90,
                        what="every obligation after the restart")
        rows = owed(store)
        assert 0 < at_kill < 2 * len(people), "the kill did not land mid-stream"
        assert len({(r["case_id"], r["kind"]) for r in rows}) == len(rows) == 2 * len(people)
        assert store.counts()["duplicates"] == 0
    finally:
        process.stop()
        store.dispose()


def test_an_obligation_due_while_central_is_down_goes_overdue_once_it_is_back(
    tmp_path: Path, broker: Broker, url: str
) -> None:
    store = Store(url)
    process = CentralProcess(tmp_path, broker, url, webhooks={"urls": [HOOK], "poll_s": 60},
                             obligations={"deadlines_h": {"isolation_transfer": 0.002}, "scan_s": 0.2})  # 7.2 s
    process.start()
    with mqtt.client(broker) as box:
        mqtt.publish(box, topics.uplink("site-a", "box-a", "verdict"), signing.sign(KEY, traveller(1, 1, "red")))
    mqtt.wait_until(lambda: len(owed(store)) == 1, timeout=30, what="the transfer owed")
    process.kill()
    (transfer,) = owed(store)
    assert transfer["state"] == "open", "the deadline passed before central was down: the test proves nothing"
    mqtt.wait_until(lambda: now() > transfer["deadline"] + timedelta(seconds=1), timeout=30, what="the deadline")
    assert owed(store)[0]["state"] == "open"  # nobody marked it while central was down
    process.start()
    mqtt.wait_until(lambda: owed(store)[0]["state"] == "overdue", timeout=30, what="overdue after the restart")
    assert process.said("obligation overdue") == 1
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(alerts).where(alerts.c.obligation_id.is_not(None))) == 1
        assert conn.scalar(select(func.count()).select_from(case_events).where(case_events.c.action == "overdue")) == 1
    process.stop()
    store.dispose()
