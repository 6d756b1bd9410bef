"""No part of the agent dies quietly: a dead thread or an outbox deleted under the running agent stops
it in order, says why in its log, and exits non-zero (systemd then starts it again)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agent.app import Agent, AgentFailed
from agent.config import AgentSettings
from checkpoint.broker import Broker, free_port
from drivers.base import Device, Emit
from tests.factories import CENTRAL_KEY
from tests.mqtt import wait_until


def box_config(tmp: Path, broker: Broker) -> dict[str, object]:
    return {
        "site": "site-s", "device": "box-s", "signing_key": {"hex": "11" * 32}, "pseudonym_key": {"hex": "22" * 32},
        "central_key": {"hex": CENTRAL_KEY}, "mqtt": {"host": broker.host, "port": broker.port},
        "outbox": {"path": str(tmp / "data" / "outbox.sqlite")}, "state_dir": str(tmp / "state"),
        "kiosk": {"port": free_port()}, "simulation": {"mode": "direct", "passages_per_minute": 600},
    }


def test_an_outbox_deleted_under_the_agent_stops_it_and_says_why(tmp_path: Path, broker: Broker) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(box_config(tmp_path, broker)))
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "checkpoint", "agent", "--config", str(config), "--simulate"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: '"verdict shown"' in log.read_text() or proc.poll() is not None, what="a verdict")
        assert (tmp_path / "data" / "outbox.sqlite").exists(), log.read_text()[-2000:]
        shutil.rmtree(tmp_path / "data")  # a deployer cleaning up, a card unmounted
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert code != 0
    assert any("deleted or replaced while the agent ran" in line.get("error", line["msg"]) for line in lines)
    assert lines[-1]["msg"] == "agent stopped"


class Breaks(Device):
    """A driver with a bug: its thread dies once the agent is up (its kiosk serving)."""

    def __init__(self, running: Callable[[], object]) -> None:
        self.running = running

    def run(self, emit: Emit, stop: threading.Event) -> None:
        wait_until(self.running, timeout=30, what="the agent to be up")
        raise RuntimeError("index out of range in a frame parser")


def test_a_part_that_dies_stops_the_agent(tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    settings = AgentSettings.model_validate(box_config(tmp_path, broker))
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)  # only if the agent never stops by itself
    timer.start()
    try:
        with pytest.raises(AgentFailed, match="device-0: RuntimeError: index out of range"):
            agent = Agent(settings, [Breaks(lambda: agent.kiosk_port)])
            agent.run(stop, drain_timeout_s=0)
    finally:
        timer.cancel()
    assert any(r.getMessage() == "a part of the agent died; the agent stops" for r in caplog.records)
