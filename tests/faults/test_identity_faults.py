"""Faults of a box's identity: its outbox lost while verdicts waited in it, and the same bundle
installed on two boxes. Nothing may be counted twice, and whatever is not at central must be
accounted for: reported lost by central (the lost outbox), or still waiting in the outbox of the
twin that central told to stop. The devices page and /healthz are read during each fault.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from agent.outbox import Outbox
from central.schema import verdicts
from central.store import Store
from checkpoint.broker import free_port
from checkpoint.demo import DEMO_USER, Box, Demo
from tests.faults.checks import tally, unreceipted
from tests.faults.proxy import Proxy
from tests.faults.test_fault_suite import edit_box
from tests.mqtt import wait_until


def office(demo: Demo) -> httpx.Client:
    client = httpx.Client(base_url=f"http://127.0.0.1:{demo.http_port}", timeout=10)
    token = client.post("/api/session", json={"username": DEMO_USER, "password": demo.password}).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def device(client: httpx.Client, name: str) -> dict:  # type: ignore[type-arg]
    return next(d for d in client.get("/api/devices").json() if d["device"] == name)


@pytest.mark.slow
def test_a_lost_outbox_and_twin_boxes_are_accounted_for(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", agents=3, passages_per_minute=300, mode="direct")
    demo.prepare()
    assert demo.broker is not None
    lossy, original = demo.boxes[1], demo.boxes[2]
    proxy = Proxy(upstream_port=demo.broker.port, port=free_port())
    edit_box(lossy, lambda d: d["mqtt"].update(port=proxy.port) or d.update(drain_timeout_s=1))
    twin_dir = tmp_path / "twin"  # the same bundle (identity, keys) installed on a second box
    config = yaml.safe_load(original.config.read_text())
    config.update(outbox={"path": str(twin_dir / "outbox.sqlite")}, state_dir=str(twin_dir / "state"),
                  kiosk={**config["kiosk"], "port": free_port()})
    twin = Box(original.site, original.device, original.kind, twin_dir / "agent.yaml", twin_dir / "outbox.sqlite",
               config["kiosk"]["port"])
    twin_dir.mkdir()
    twin.config.write_text(yaml.safe_dump(config, allow_unicode=True))
    twin_log = demo.workdir / "logs" / "twin.log"
    pages: dict[str, str] = {}
    proxy.start()
    client: httpx.Client | None = None
    try:
        demo.start()
        client = office(demo)
        wait_until(lambda: device(client, "box-2")["stored"] >= 10, timeout=60, what="box-2's verdicts at central",
                   every=0.25)
        proxy.cut()  # box-2's verdicts pile up in its outbox
        wait_until(lambda: len(unreceipted(lossy)) >= 20, timeout=60, what="verdicts waiting in box-2's outbox",
                   every=0.25)
        demo.stop_box(lossy)
        for leftover in lossy.outbox.parent.glob("outbox.sqlite*"):
            leftover.unlink()  # the outbox is lost with what it held
        proxy.restore()
        demo.start_box(lossy)
        wait_until(lambda: device(client, "box-2")["lost"] and device(client, "box-2")["online"], timeout=30,
                   what="central to report box-2's lost outbox")
        pages["lost outbox"] = client.get("/devices").text
        assert client.get("/healthz").status_code == 200

        demo.start_box(twin, twin_log)
        wait_until(lambda: device(client, "box-3")["conflict"] is not None, timeout=30,
                   what="central to see two boxes with one identity")
        wait_until(lambda: "stopped connecting to the broker" in twin_log.read_text(), timeout=30,
                   what="the twin to stop")
        pages["twins"] = client.get("/devices").text
        assert client.get("/healthz").status_code == 200
        kept = device(client, "box-3")["stored"]  # the first box-3 goes on undisturbed
        wait_until(lambda: device(client, "box-3")["stored"] >= kept + 20, timeout=60, what="box-3 to go on",
                   every=0.25)
    finally:
        if client is not None:
            client.close()
        demo.stop()
        demo.stop_box(twin)
        proxy.stop()
    report = tally(demo, ["box-2 outbox lost", "box-3 installed twice"], "Identity faults", extra_logs=(twin_log,))
    store = Store(demo.db_url)
    with store.engine.connect() as conn:
        stored = set(conn.scalars(select(verdicts.c.id)))
    store.dispose()
    with Outbox(twin.outbox) as outbox:  # stored but never receipted (the twin stopped) is not waiting
        waiting = len({row.verdict_id for row in outbox.pending(limit=100_000)} - stored)
    assert "this box's outbox was lost since it last ran" in (demo.workdir / "logs" / "box-2.log").read_text()
    assert "本机存储丢失" in pages["lost outbox"] and "身份冲突" in pages["twins"]
    kept = (demo.workdir / "logs" / "box-3.log").read_text()
    assert "another box uses this box's identity; central told it to stop, this box goes on" in kept
    assert report["duplicated"] == 0 and report["gaps"] == 0, report
    assert report["lost (reported)"] > 0, report
    assert report["lost"] == report["lost (reported)"] + waiting, (report, waiting)
