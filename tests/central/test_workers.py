"""`ingest.workers: N`: N collectors of one central on the shared subscription, each its own process
and session; and lowering N retires the workers above it without stranding what their sessions hold.

Mosquitto queues a shared subscription's messages for a member that is away (persistent session), so
verdicts sent while central is stopped are split between every worker's session: after a restart with
fewer workers, the retired ones' shares must still be stored."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from central import queries
from central.config import CentralSettings, IngestSettings
from central.ingest import retired_workers, worker_ids
from central.main import _retire
from central.regions import WHOLE
from central.store import Store
from checkpoint.broker import Broker
from tests import mqtt
from tests.central.conftest import KEY, CentralProcess
from tests.central.test_replicas import publish_stream
from tests.pg import PostgresServer


@pytest.mark.parametrize(("workers", "known", "retired"), [
    (1, [], []),
    (1, ["central-1"], []),
    (1, ["central-1", "central-1-w2", "central-1-w3"], ["central-1-w2", "central-1-w3"]),
    (2, ["central-1", "central-1-w2", "central-1-w3"], ["central-1-w3"]),
    (3, ["central-1-w2", "central-1-w3"], []),
    (1, ["central-1-w10", "central-1-w2"], ["central-1-w2", "central-1-w10"]),  # in worker order
    (1, ["central-2-w2", "central-12-w3", "central-1-wx"], []),  # another replica's, or not a worker
])
def test_which_workers_retire(workers: int, known: list[str], retired: list[str]) -> None:
    assert retired_workers(IngestSettings(client_id="central-1", workers=workers), known) == retired


def test_worker_ids_keep_the_first_as_the_replica_itself() -> None:
    assert worker_ids(IngestSettings(client_id="c", workers=3)) == ["c", "c-w2", "c-w3"]


def shares(store: Store) -> dict[str, int]:
    return {r["client_id"]: r["handled"] for r in queries.collector_replicas(store.engine, WHOLE)}


def test_three_workers_share_the_stream_then_one_retires_the_others_and_nothing_is_stranded(
    tmp_path: Path, broker: Broker, pg_url: str
) -> None:
    store = Store(pg_url)
    store.migrate()
    store.register_device("box-a", "site-a", "traffic", KEY.hex())
    try:
        central = CentralProcess(tmp_path, broker, pg_url, ingest={"client_id": "central-1", "workers": 3,
                                                                 "batch_max": 50, "batch_wait_ms": 20})
        central.start()
        mqtt.wait_until(lambda: len(central.lines()) and central.said("collector subscribed") == 3, timeout=60,
                        what="three workers subscribed")
        publish_stream(broker, range(1, 1501), repeat_every=7)
        mqtt.wait_until(lambda: store.counts()["stored"] == 1500, timeout=90, what="the first stream stored")
        central.stop()
        assert set(shares(store)) == {"central-1", "central-1-w2", "central-1-w3"}
        assert min(shares(store).values()) > 100, shares(store)

        publish_stream(broker, range(1501, 3001))  # central away: the broker splits these among three sessions
        central = CentralProcess(tmp_path, broker, pg_url, ingest={"client_id": "central-1", "workers": 1,
                                                                 "batch_max": 50, "batch_wait_ms": 20})
        central.start()
        mqtt.wait_until(lambda: central.said("ingest worker retired") == 2, timeout=90, what="two workers retired")
        mqtt.wait_until(lambda: store.counts()["stored"] == 3000, timeout=60, what="the second stream stored")
        assert store.counts() == {"stored": 3000, "duplicates": 0, "dead_letters": 0}
        assert set(shares(store)) == {"central-1"}
        retired = [line for line in central.lines() if line["msg"] == "ingest worker retired"]
        assert [line["worker"] for line in retired] == ["central-1-w2", "central-1-w3"]
        assert sum(line["stored"] for line in retired) > 0  # their sessions held a share of the second stream
        publish_stream(broker, range(3001, 3101))  # and what comes now goes to the one worker left
        mqtt.wait_until(lambda: store.counts()["stored"] == 3100, timeout=60, what="the third stream stored")
        central.stop()
    finally:
        store.dispose()


def test_retiring_waits_for_a_database_that_is_away_instead_of_stopping_central(
    own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The retiring part reads which workers earlier runs had; a database away at that moment once ended
    the part, and a part that ends stops central."""
    store = Store(own_pg.start().url)
    store.migrate()
    own_pg.stop()
    settings = CentralSettings.model_validate({"mqtt": {"host": "127.0.0.1", "port": 1},
                                               "ingest": {"client_id": "central-1"}, "downlink_key": "33" * 32})
    stop = threading.Event()
    part = threading.Thread(target=_retire, args=(settings, store, stop))
    with caplog.at_level(logging.INFO, logger="central.main"):
        part.start()
        mqtt.wait_until(lambda: "retiring ingest workers failing; trying again" in caplog.messages,
                        what="the failure told")
        assert part.is_alive()
        own_pg.start()
        mqtt.wait_until(lambda: "retiring ingest workers working again" in caplog.messages, timeout=30,
                        what="the database back")
        assert part.is_alive()  # nothing to retire: it waits with the other parts
        stop.set()
        part.join(10)
    assert not part.is_alive()
    store.dispose()
