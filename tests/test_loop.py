"""The demo's closed loop, by itself: boxes placed in the sample tree, travellers transferred to the
yellow-code hotel closing their transfers by arriving, transfers nobody confirms going overdue,
pre-registrations pushed, and the county's and the township's logins each reading their own area."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from central.schema import obligations, verdicts
from central.store import Store
from checkpoint import loop
from checkpoint.demo import Demo
from tests.mqtt import wait_until

# The demo's deadlines run in real time, but the test waits on what they cause (an arrival, an overdue
# transfer), each for up to 240 s: load only delays it, so it runs with the others, started first.
pytestmark = pytest.mark.slow


def test_the_demo_closes_the_loop_by_itself(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", agents=3, passages_per_minute=60, mode="direct", loop=True)
    demo.prepare()
    store = Store(demo.db_url)

    def count(*where: object) -> int:
        with store.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(obligations).where(*where)) or 0  # type: ignore[arg-type]

    try:
        demo.start()
        wait_until(lambda: count(obligations.c.kind == "isolation_transfer", obligations.c.proof == "arrival"),
                   timeout=240, what="a transferred traveller arriving at the hotel", every=1)
        wait_until(lambda: count(obligations.c.overdue_at.is_not(None)), timeout=240, what="an obligation overdue",
                   every=1)
        with store.engine.connect() as conn:
            registered = sum("pre_registered" in reasons for reasons in conn.scalars(select(verdicts.c.reasons)))
        url = f"http://127.0.0.1:{demo.http_port}"
        areas = {}
        for user in loop.LOGINS:
            token = httpx.post(f"{url}/api/session", json={"username": user, "password": demo.password}).json()
            rows = httpx.get(f"{url}/api/reports/daily", headers={"Authorization": f"Bearer {token['token']}"}
                             ).json()["rows"]
            areas[user] = {r["code"] for r in rows}
    finally:
        demo.stop()
        store.dispose()
    assert areas["county"] >= {"390102", "390102001", loop.HOTEL} and "390103" not in areas["county"]
    assert areas["township"] == {c for c in areas["county"] if c.startswith("390102001")}
    summary = demo.summary()
    assert summary["produced"] == summary["stored"] and summary["duplicates"] == 0
    closed = summary["loop"]["closed_by_themselves"]["isolation_transfer by arrival"]
    assert closed["count"] >= 1 and all(s >= loop.ARRIVE_AFTER_S for s in closed["seconds"])
    assert summary["loop"]["overdue"] >= 1
    assert registered >= 1  # outsiders on the list passed as registered (已报备)
