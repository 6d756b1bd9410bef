"""The issue's "done when", from a clean start: provision a box, start the broker with the
production configuration, start central with the account provisioning gave it, start the agent
from its installed bundle — and verdicts arrive at central, signed by the box, over TLS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from central.store import Store
from checkpoint.broker import free_port
from checkpoint.provision import actions
from checkpoint.provision.deployment import Deployment, Login
from checkpoint.provision.trial_broker import TrialBroker
from contract.messages import CheckpointKind
from contract.signing import verify
from tests.deploy.conftest import install_bundle
from tests.mqtt import wait_until


@contextmanager
def process(args: list[str], log: Path, cwd: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "checkpoint", *args], stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


VERDICTS = 3


def subscribed(central: subprocess.Popen[bytes], http_port: int, logs: Path) -> bool:
    """Central's /healthz answers 200 once its collector is subscribed (verdicts sent before would
    wait in the box's outbox for a resend)."""
    assert central.poll() is None, (logs / "central.log").read_text()[-2000:]
    try:
        return httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_provisioned_box_delivers_signed_verdicts_over_tls(deployment: Deployment, tmp_path: Path) -> None:
    outcome = actions.provision(deployment, "box-e2e", "g15-exit-3", CheckpointKind.TRAFFIC, Login.PASSWORD)
    assert outcome.bundle is not None and outcome.bundle.exists()
    agent_yaml = install_bundle(deployment, "box-e2e")
    settings = deployment.settings()
    store = Store(settings.central_database_url)
    broker = TrialBroker.of(deployment).start()
    try:
        http = free_port()
        central = process(["central", "--config", str(deployment.central_config)], tmp_path / "central.log",
                          tmp_path, CHECKPOINT_CENTRAL_HTTP__PORT=str(http))
        # the agent against the device simulators (its --simulate), quick passages, its kiosk on a free port
        agent = process(["agent", "--config", str(agent_yaml), "--simulate"], tmp_path / "agent.log", tmp_path,
                        CHECKPOINT_AGENT_SIMULATION__PASSAGES_PER_MINUTE="600", CHECKPOINT_AGENT_KIOSK__PORT="0",
                        CHECKPOINT_AGENT_PASSAGE_TIMEOUT_S="2")
        with central as central_proc:
            wait_until(lambda: subscribed(central_proc, http, tmp_path), timeout=60, what="central subscribed")
            with agent as agent_proc:
                def stored() -> int:
                    assert agent_proc.poll() is None, (tmp_path / "agent.log").read_text()[-2000:]
                    return store.counts()["stored"]

                wait_until(lambda: stored() >= VERDICTS, timeout=60, what="verdicts from the box at central")
        counts = store.counts()
        assert counts["dead_letters"] == 0, store.dead_letters()
        key = deployment.box_dir("box-e2e").joinpath("signing.key").read_text().strip()
        rows = store.latest(limit=VERDICTS)
        assert {row["device"] for row in rows} == {"box-e2e"}
        assert all(verify(bytes.fromhex(key), dict(row["payload"])) for row in rows)
    finally:
        broker.stop()
        store.dispose()
    log = broker.log_file.read_text()
    assert f"on port {settings.broker.port}" in log and "u'box-e2e'" in log  # the box came in on the TLS listener
    assert "u'central'" in log
