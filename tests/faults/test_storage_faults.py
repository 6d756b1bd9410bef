"""Central's storage fails under load: PostgreSQL killed and restarted, stopped and central started
while it is down; central's SQLite disk full and freed, its database locked by another process and
central restarted while it is locked.

Three boxes keep deciding throughout. During each fault /healthz and the devices page must say
"storage unavailable" (or "waiting for the database") with a growing backlog, and "ok" after it;
afterwards every verdict shown at a kiosk is stored exactly once, as in the main fault suite.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.config import IngestSettings
from checkpoint.demo import Demo
from tests.faults.checks import SmallDisk, edit_box, tally
from tests.mqtt import wait_until
from tests.pg import PostgresServer

RATE = 600.0  # passages per minute per box: 3 boxes x 10/s
WINDOW = IngestSettings().batch_max * 2  # what the broker hands central un-acknowledged, at most


class Office:
    """What a deployer looks at: /healthz, and the devices page (logged in before the fault)."""

    def __init__(self, demo: Demo) -> None:
        self.url = f"http://127.0.0.1:{demo.http_port}"
        token = httpx.post(f"{self.url}/api/session", json={"username": "demo", "password": demo.password},
                           timeout=10).json()["token"]
        self.http = httpx.Client(base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {token}"})

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            answer = self.http.get("/healthz")
        except httpx.HTTPError:
            return 0, {}  # central restarting
        return answer.status_code, answer.json()

    def devices_page(self) -> tuple[str, int]:
        """The collector's state and backlog as the devices page shows them (a 503 page while the
        database cannot be read at all)."""
        page = self.http.get("/devices").text
        status = re.search(r'id="writer" data-status="([^"]+)"', page)
        backlog = re.search(r'id="writer-backlog">(\d+)<', page)
        assert status and backlog, page[-2000:]
        return status.group(1), int(backlog.group(1))

    def expect_fault(self, status: str) -> None:
        """/healthz says `status` (503) with a backlog that grows; the devices page says so too."""
        wait_until(lambda: self.health()[1].get("status") == status, timeout=90, what=f"/healthz: {status}")
        wait_until(lambda: self.health()[1]["backlog"] > 0, timeout=30, what="a backlog")
        first = self.health()[1]["backlog"]
        wait_until(lambda: self.health()[1]["backlog"] >= min(first + 100, WINDOW), timeout=30,
                   what="the backlog to grow (up to the broker's in-flight window)")
        code, health = self.health()
        assert code == 503 and health["reason"], health
        assert self.devices_page()[0] == status

    def expect_ok(self) -> None:
        wait_until(lambda: self.health()[0] == 200, timeout=120, what="/healthz: ok")
        wait_until(lambda: self.devices_page()[0] == "ok", timeout=30, what="the devices page: ok")


def run_load(demo: Demo, faults: list[str], steps: Callable[[Office, Callable[[str], None]], None]) -> dict[str, int]:
    for box in demo.boxes:  # when the load stops, let every box wait for central to catch up
        edit_box(box, lambda d: d.update(drain_timeout_s=180))
    demo.start()
    office = Office(demo)
    try:
        wait_until(lambda: demo.counts()["stored"] > 50, timeout=60, what="verdicts stored before the faults")
        steps(office, faults.append)
        office.expect_ok()
        after = demo.counts()["stored"]  # and the load goes on after the last fault, stored as it comes
        wait_until(lambda: demo.counts()["stored"] >= after + 100, timeout=60, what="verdicts stored after the faults",
                   every=0.25)
    finally:
        office.http.close()
        demo.stop(timeout=240)
    central_log = (demo.workdir / "logs" / "central.log").read_text()
    assert '"central stopped"' in central_log
    return tally(demo, faults, "Storage faults")


def check(report: dict[str, int]) -> None:
    assert report["lost"] == 0, report
    assert report["duplicated"] == 0, report
    assert report["gaps"] == 0, report
    assert report["cases"] == report["cases expected"], report
    assert report["shown"] > 100, report


@pytest.mark.slow
def test_postgresql_killed_restarted_and_away_at_start(tmp_path: Path, own_pg: PostgresServer) -> None:
    own_pg.start()
    demo = Demo(tmp_path / "demo", agents=3, passages_per_minute=RATE, mode="direct", database_url=own_pg.url)
    demo.prepare()
    faults: list[str] = []

    def steps(office: Office, did: Callable[[str], None]) -> None:
        own_pg.kill()
        did("PostgreSQL SIGKILL")
        office.expect_fault("storage unavailable")
        own_pg.start()
        did("PostgreSQL restart")
        office.expect_ok()
        own_pg.stop()
        did("PostgreSQL stop")
        assert demo.stop_central() == 0
        did("central SIGTERM")
        demo.start_central(wait=False)
        did("central start while PostgreSQL is down")
        wait_until(lambda: office.health()[1].get("status") == "waiting for the database", timeout=60,
                   what="/healthz: waiting for the database")
        assert office.health()[0] == 503
        own_pg.start()
        did("PostgreSQL start")

    check(run_load(demo, faults, steps))


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the full-disk fault mounts a tmpfs: run as root (CI does)")
def test_central_sqlite_disk_full_and_database_locked(tmp_path: Path) -> None:
    disk = SmallDisk(tmp_path / "central-disk", size_mb=32)
    with disk:
        database = disk.path / "central.sqlite"
        demo = Demo(tmp_path / "demo", agents=3, passages_per_minute=RATE, mode="direct",
                    database_url=f"sqlite:///{database}")
        demo.prepare()
        faults: list[str] = []

        def steps(office: Office, did: Callable[[str], None]) -> None:
            disk.fill()
            did("central's disk full")
            office.expect_fault("storage unavailable")
            disk.free()
            did("central's disk freed")
            office.expect_ok()
            other = sqlite3.connect(database, timeout=30, isolation_level=None)
            try:
                other.execute("BEGIN EXCLUSIVE")  # another process holds the database (a backup, a sqlite3 shell)
                did("central's database locked")
                office.expect_fault("storage unavailable")
                assert demo.stop_central() == 0  # it was holding a batch it could not store
                did("central SIGTERM")
                demo.start_central(wait=False)
                did("central start while its database is locked")
                office.expect_fault("storage unavailable")
            finally:
                other.execute("ROLLBACK")
                other.close()
            did("central's database unlocked")

        report = run_load(demo, faults, steps)
    check(report)
