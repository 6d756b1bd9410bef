"""The whole flow: simulated boxes -> real Mosquitto -> central, each box a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from central.schema import verdicts
from central.store import Store
from checkpoint.demo import Demo
from tests.faults.checks import shown_ids, unreceipted
from tests.mqtt import wait_until

CLI = [sys.executable, "-m", "checkpoint"]


def test_demo_stores_every_verdict_exactly_once(tmp_path: Path) -> None:
    """The README's demo: boxes whose drivers read the device simulators, for a few seconds."""
    summary = tmp_path / "out.json"
    done = subprocess.run(
        [
            *CLI,
            "demo",
            "--agents",
            "3",
            "--duration",
            "15",
            "--summary-json",
            str(summary),
            "--workdir",
            str(tmp_path / "demo"),
            "--rate",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(summary.read_text())
    assert result["produced"] == result["stored"] > 0
    assert result["duplicates"] == 0
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'central' / 'central.sqlite'}")
    keys = store.device_keys()
    store.dispose()
    assert len(keys) == 3 and all(k.mac_receipts for k in keys.values())  # receipts MAC'd, as the boxes asked


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_broker_outage_mid_run_loses_nothing(tmp_path: Path, how: str) -> None:
    demo = Demo(tmp_path / "demo", agents=2, passages_per_minute=600, mode="direct")
    demo.prepare()
    try:
        demo.start()
        wait_until(lambda: demo.counts()["stored"] >= 20, timeout=60, what="verdicts stored before the outage",
                   every=0.2)
        assert demo.broker is not None
        getattr(demo.broker, how)()  # a clean stop, or SIGKILL (nothing saved since the last autosave)
        logs = [demo.workdir / "logs" / f"{box.device}.log" for box in demo.boxes]
        at_outage = sum(len(shown_ids(log)) for log in logs)
        # the boxes keep deciding and recording while the broker is away
        wait_until(lambda: sum(len(shown_ids(log)) for log in logs) >= at_outage + 25, timeout=60,
                   what="verdicts decided while it is away", every=0.2)
        backlog = set().union(*map(unreceipted, demo.boxes))
        assert backlog, "no verdict waited at the boxes"
        demo.broker.start()
        at_restart = demo.counts()["stored"]
        wait_until(lambda: demo.counts()["stored"] >= at_restart + 20, timeout=60, what="deliveries to resume",
                   every=0.2)
        if how == "stop":  # the broker saved central's session: what waited arrives while the boxes run
            # (after a SIGKILL what a box sends before central subscribes again waits for the box's resend,
            # 30 s later, or for its drain at the end)
            store = Store(demo.db_url)
            try:
                wait_until(lambda: backlog <= stored_ids(store), timeout=60, what="the backlog to reach central",
                           every=0.2)
            finally:
                store.dispose()
    finally:
        demo.stop()
    result = demo.summary()
    assert result["produced"] > 40
    assert result["stored"] == result["produced"], result
    assert result["duplicates"] == 0
    logs = demo.workdir / "logs"
    for box in demo.boxes:
        assert said(logs / f"{box.device}.log", "agent stopped")
    assert said(logs / "central.log", "central stopped")


def stored_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {str(verdict_id) for verdict_id in conn.scalars(select(verdicts.c.id))}


def said(log: Path, msg: str) -> bool:
    """Whether the structured log has a line saying `msg`; every line of it must be JSON, up to the
    process's very end (native libraries' exit chatter included)."""
    lines = log.read_text().splitlines()
    assert all(line.startswith("{") for line in lines), [line for line in lines if not line.startswith("{")][:5]
    return any(json.loads(line)["msg"] == msg for line in lines)


def test_a_broken_config_file_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "site: demo-site\ndevice: box-1\nkind: lorry\nsigning_key: {hex: '00'}\npseudonym_key: {hex: '00'}\n"
    )
    done = subprocess.run([*CLI, "agent", "--config", str(config), "--simulate"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "field `kind`" in done.stderr and str(config) in done.stderr
    config.write_text("site: [unclosed\n")
    done = subprocess.run([*CLI, "agent", "--config", str(config), "--simulate"], capture_output=True, text=True)
    assert done.returncode == 2 and "not valid YAML" in done.stderr and "line" in done.stderr
