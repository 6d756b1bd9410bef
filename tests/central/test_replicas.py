"""Collectors as the office runs them: a `checkpoint central` process killed with SIGKILL in the
middle of a stream and started again, and two collectors splitting one stream on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from central import queries
from central.regions import WHOLE
from central.store import Store
from checkpoint.broker import Broker
from contract import signing, topics
from tests import mqtt
from tests.central.conftest import KEY, CentralProcess, db_url, run_collector, settings_for
from tests.factories import verdict

TOPIC = topics.uplink("site-a", "box-a", "verdict")


def publish_stream(broker: Broker, seqs: range, repeat_every: int = 0) -> None:
    """A box draining its outbox: QoS 1, in order; every `repeat_every`-th verdict sent twice."""
    with mqtt.client(broker) as c:
        pending = []
        for seq in seqs:
            wire = signing.sign(KEY, verdict(seq=seq))
            pending.append(c.publish(TOPIC, wire, qos=1))
            if repeat_every and seq % repeat_every == 0:
                pending.append(c.publish(TOPIC, wire, qos=1))
        for info in pending:
            info.wait_for_publish(timeout=30)


def stored(store: Store) -> int:
    return int(queries.totals(store.engine, WHOLE)["stored"])


@pytest.fixture(params=["sqlite", "postgresql"])
def central_process(
    request: pytest.FixtureRequest, tmp_path: Path, broker: Broker
) -> Iterator[tuple[CentralProcess, Store]]:
    url = db_url(request, tmp_path, request.param)
    store = Store(url)
    store.migrate()
    store.register_device("box-a", "site-a", "traffic", KEY.hex())
    process = CentralProcess(tmp_path, broker, url)
    yield process, store
    process.stop()
    store.dispose()


def test_a_collector_killed_mid_ingest_and_restarted_loses_nothing(
    broker: Broker, central_process: tuple[CentralProcess, Store]
) -> None:
    process, store = central_process
    total = 4000
    process.start()
    box = threading.Thread(target=publish_stream, args=(broker, range(1, total + 1)))
    box.start()
    mqtt.wait_until(lambda: stored(store) >= 300, timeout=60, what="ingest under way")
    process.kill()
    at_kill = stored(store)
    box.join(60)
    assert not box.is_alive(), "the box did not get its PUBACKs"  # the rest waits in the collector's session
    process.start()
    mqtt.wait_until(lambda: stored(store) == total, timeout=90, what="every verdict after the restart")
    assert 0 < at_kill < total, "the kill did not land mid-stream"
    counts = store.counts()
    assert counts == {"stored": total, "duplicates": 0, "dead_letters": 0}
    (device,) = queries.fleet(store.engine, timedelta(minutes=1), WHOLE)
    assert (device["max_seq"], device["missing"]) == (total, 0)


@pytest.mark.postgres
def test_two_collectors_split_one_stream_and_store_each_verdict_once(broker: Broker, pg_url: str) -> None:
    stores = [Store(pg_url), Store(pg_url)]
    stores[0].migrate()
    stores[0].register_device("box-a", "site-a", "traffic", KEY.hex())
    running = []
    try:
        for n, s in enumerate(stores, start=1):
            running.append(run_collector(settings_for(broker, ingest={"client_id": f"central-{n}"}), s))
        publish_stream(broker, range(1, 2001), repeat_every=7)  # some verdicts twice, as after a box's resend
        mqtt.wait_until(lambda: sum(c.handled for c, _, _ in running) == 2000 + 2000 // 7, timeout=60,
                        what="both collectors done")
    finally:
        for _, stop, _thread in running:
            stop.set()
        for _, _, thread in running:
            thread.join(10)
    try:
        _check_split(stores[0])
    finally:
        for s in stores:
            s.dispose()


def _check_split(store: Store) -> None:
    assert store.counts() == {"stored": 2000, "duplicates": 0, "dead_letters": 0}
    shares = {r["client_id"]: r["handled"] for r in queries.collector_replicas(store.engine, WHOLE)}
    assert set(shares) == {"central-1", "central-2"} and min(shares.values()) > 200, shares
    (device,) = queries.fleet(store.engine, timedelta(minutes=1), WHOLE)
    assert (device["stored"], device["missing"]) == (2000, 0)
