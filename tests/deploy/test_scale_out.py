"""The part of deploy/SCALE-OUT.md that runs on one machine: two collectors with their own client ids
on one shared subscription, behind the production broker configuration and central's own account,
writing to PostgreSQL. (tests/central covers the collector itself; this covers the deployment.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import CentralSettings
from central.ingest import Collector
from central.store import Store
from checkpoint.provision import acl, actions
from checkpoint.provision.deployment import Deployment, Login
from checkpoint.provision.trial_broker import TrialBroker
from common import settings as settings_file
from contract import signing, topics
from contract.messages import CheckpointKind, Receipt
from tests.deploy.conftest import make_deployment, reachable_dir
from tests.deploy.mqtt_tls import session
from tests.deploy.test_broker_acl import box_mqtt
from tests.factories import verdict
from tests.mqtt import wait_until

pytestmark = pytest.mark.postgres
VERDICTS = 200


@pytest.fixture
def pg_deployment(pg_url: str) -> Iterator[Deployment]:
    with reachable_dir() as root:
        deployment = make_deployment(root)
        config = deployment.settings()
        config.central_database_url = pg_url
        actions.init(deployment, config)  # re-run: central's settings now point at PostgreSQL
        yield deployment


def test_two_collectors_share_the_stream_and_store_each_verdict_once(pg_deployment: Deployment) -> None:
    deployment = pg_deployment
    actions.provision(deployment, "box-s", "site-s", CheckpointKind.TRAFFIC, Login.PASSWORD)
    key = bytes.fromhex(deployment.box_dir("box-s").joinpath("signing.key").read_text())
    broker = TrialBroker.of(deployment).start()
    stop = threading.Event()
    replicas: list[tuple[Collector, Store, threading.Thread]] = []
    try:
        for n in (1, 2):  # what two checkpoint-central@N units run: same group, own client id
            central = settings_file.load(CentralSettings, deployment.central_config,
                                         ingest={"client_id": f"central-{n}", "batch_max": 50})
            store = Store(central.database_url)
            collector = Collector(central, store)
            thread = threading.Thread(target=collector.run, args=(stop,), name=f"collector-{n}")
            thread.start()
            replicas.append((collector, store, thread))
        wait_until(lambda: all(c.subscribed.is_set() for c, _, _ in replicas), what="both collectors subscribed")

        receipted: set[int] = set()
        with session(box_mqtt(deployment, "box-s"), "agent-site-s-box-s") as box:
            assert box.accepted()
            box.subscribe(topics.downlink("site-s", "box-s", "receipt"))
            for seq in range(1, VERDICTS + 1):
                box.client.publish(topics.uplink("site-s", "box-s", "verdict"),
                                   signing.sign(key, verdict(seq=seq, site="site-s", device="box-s")), qos=1)

            def all_receipted() -> bool:
                while not box.messages.empty():
                    for first, last in Receipt.model_validate_json(box.messages.get().payload).seqs:
                        receipted.update(range(first, last + 1))
                return len(receipted) == VERDICTS

            wait_until(all_receipted, timeout=30, what="central's receipts for every verdict")
        counts = replicas[0][1].counts()
        assert counts == {"stored": VERDICTS, "duplicates": 0, "dead_letters": 0}
        assert all(c.handled > 0 for c, _, _ in replicas), [c.handled for c, _, _ in replicas]
        assert sum(c.handled for c, _, _ in replicas) == VERDICTS
    finally:
        stop.set()
        for _, store, thread in replicas:
            thread.join(timeout=10)
            store.dispose()
        broker.stop()


def test_the_emqx_rights_view_gives_each_box_its_own_topics_until_revoked(pg_deployment: Deployment) -> None:
    """deploy/emqx/mqtt_auth.sql over central's registry: what EMQX would let each account do."""
    from sqlalchemy import text

    actions.provision(pg_deployment, "box-e", "site-e", CheckpointKind.TRAFFIC, Login.CERTIFICATE)
    store = Store(pg_deployment.settings().central_database_url)
    sql = (Path(__file__).resolve().parents[2] / "deploy" / "emqx" / "mqtt_auth.sql").read_text()

    def rights(user: str) -> set[tuple[str, str, str]]:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT permission, action, topic FROM mqtt_acl WHERE username = :u"), {"u": user})
            return {tuple(r) for r in rows}  # type: ignore[misc]

    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(sql)
        box = registry_acl("site-e", "box-e")
        assert rights("box-e") == box
        assert ("allow", "subscribe", "$share/central/checkpoint/v1/+/+/verdict") in rights("central")
        assert ("allow", "publish", "checkpoint/v1/+/+/down/#") in rights("central")
        actions.revoke(pg_deployment, "box-e")
        assert rights("box-e") == set()
    finally:
        store.dispose()


def registry_acl(site: str, device: str) -> set[tuple[str, str, str]]:
    """The Mosquitto ACL lines of one box (checkpoint.provision.acl), in EMQX's terms."""
    rights = set()
    for line in acl.box_lines(site, device)[1:]:
        _, access, topic = line.split()
        rights.add(("allow", "publish" if access == "write" else "subscribe", topic))
    return rights
