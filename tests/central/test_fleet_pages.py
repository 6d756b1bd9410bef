"""The devices page and /api/devices at a fleet's size: paged, filtered, problems first.

A province runs thousands of boxes; the office's view of them must show one page at a time (and ask
the sequence gaps of that page's boxes only), with the boxes that need someone first."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central import queries
from central.regions import WHOLE
from central.schema import device_lives, device_status
from central.store import Store
from checkpoint.broker import Broker
from tests.central.conftest import Server, add_users, settings_for

SITES = ("site-a", "site-b", "site-c")


def box(device: str, *, online: bool = True, missing: int = 0, revoked: bool = False, site: str = "site-a",
        software: str = "1.0", **problems: Any) -> dict[str, Any]:
    return dict(device=device, site=site, online=online, missing=missing, revoked=revoked, software=software,
                lost=problems.get("lost", []), conflict=problems.get("conflict"),
                clock_off=problems.get("clock_off", False), policy_rejected=problems.get("policy_rejected"))


# what the office is to look at first, as a table: (box, a problem?)
PROBLEMS = [
    (box("quiet"), False),
    (box("away", online=False), True),
    (box("gap", missing=3), True),
    (box("lost", lost=[{"epoch": "ab", "count": 2}]), True),
    (box("twin", conflict="refused"), True),
    (box("clock", clock_off=True), True),
    (box("policy", policy_rejected="bad yaml"), True),
    (box("revoked", online=False, revoked=True), False),  # a record now, not a task
]


@pytest.mark.parametrize(("row", "problem"), PROBLEMS, ids=[r["device"] for r, _ in PROBLEMS])
def test_what_counts_as_a_problem(row: dict[str, Any], problem: bool) -> None:
    assert queries.has_problem(row) is problem


def test_a_page_is_problems_first_then_by_site_and_name_and_counts_each_kind() -> None:
    fleet = [box("b-2", site="site-b"), box("a-9", online=False), box("a-1"), box("z", revoked=True, online=False),
             box("c-1", site="site-c", software="2.0", missing=1)]
    rows, matching, counts = queries.fleet_page(fleet, limit=3)
    assert [r["device"] for r in rows] == ["a-9", "c-1", "a-1"] and matching == 5
    assert counts == {"all": 5, "problems": 2, "online": 3, "offline": 1, "revoked": 1}
    assert [r["device"] for r in queries.fleet_page(fleet, offset=3, limit=3)[0]] == ["z", "b-2"]
    assert [r["device"] for r in queries.fleet_page(fleet, state="problems")[0]] == ["a-9", "c-1"]
    assert [r["device"] for r in queries.fleet_page(fleet, site="site-a")[0]] == ["a-9", "a-1", "z"]
    assert [r["device"] for r in queries.fleet_page(fleet, software="2.0")[0]] == ["c-1"]


def stored_boxes(now: datetime) -> list[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]]:
    """The same kinds of box in the database: (device, its status or None, its lives), seen at `now`
    (the test's own time: a module-level time went stale when a loaded run reached the test minutes
    after importing it, and the quiet boxes had turned away)."""
    status = dict(site="site-a", state="online", epoch="e1", boot=1, last_seen=now, software="1.0")
    life = dict(site="site-a", epoch="e1", max_seq=5, stored=5, produced=5, last_verdict_at=now, first_seen=now)
    return [
        ("quiet", status, [life]),
        ("never-seen", None, []),
        ("away", {**status, "last_seen": now - timedelta(hours=1)},
         [{**life, "last_verdict_at": now - timedelta(hours=1)}]),
        ("said-offline", {**status, "state": "offline"}, [life]),
        ("verdicts-only", {**status, "last_seen": now - timedelta(hours=1)}, [life]),
        ("gap", status, [{**life, "max_seq": 8}]),
        ("lost", status, [{**life, "epoch": "e0", "produced": 9, "ended_at": now}, life]),
        ("refused-twin", status, [{**life, "epoch": "e0", "produced": 9, "ended_at": now, "refused": True}, life]),
        ("twin", {**status, "conflict": {"kept": "e1", "refused": "e2", "at": now.isoformat()}}, [life]),
        ("clock", {**status, "clock_offset_s": -300.0}, [life]),
        ("policy", {**status, "policy_rejected": "bad yaml"}, [life]),
        ("revoked", {**status, "state": "offline"}, [life]),
    ]


def test_the_summary_the_devices_page_filters_by_agrees_with_the_full_rows(store: Store) -> None:
    """fleet_summary works out in the database what fleet works out in Python, for every kind of box."""
    boxes = stored_boxes(datetime.now(UTC))
    for device, _, _ in boxes:
        store.register_device(device, "site-a", "traffic", secrets.token_hex(32))
    with store.engine.begin() as conn:
        for device, status, lives in boxes:
            if status is not None:
                conn.execute(device_status.insert().values(device=device, **status))
            for life in lives:
                conn.execute(device_lives.insert().values(device=device, **life))
    store.revoke_device("revoked")
    args = (store.engine, timedelta(minutes=3), WHOLE, timedelta(minutes=2))
    full = {b["device"]: b for b in queries.fleet(*args)}
    summary = {b["device"]: b for b in queries.fleet_summary(*args)}
    assert summary.keys() == full.keys()
    for device, box in full.items():
        brief = summary[device]
        assert (brief["online"], brief["missing"], bool(brief["lost"]), bool(brief["clock_off"])) == (
            box["online"], box["missing"], bool(box["lost"]), box["clock_off"]), device
        assert queries.has_problem(brief) is queries.has_problem(box), device
    problems = {d for d, b in full.items() if queries.has_problem(b)}
    never_seen = {"box-a", "never-seen"}  # the store's own box too
    assert problems == never_seen | {"away", "said-offline", "gap", "lost", "twin", "clock", "policy"}
    page, matching, counts, sites = queries.fleet_listing(*args, state="problems", limit=3)
    assert [b["device"] for b in page] == ["away", "box-a", "clock"] and matching == 9 and counts["revoked"] == 1
    assert sites == ["site-a"]
    assert page[0]["last_contact"] is not None  # the page's boxes in full


@pytest.fixture
def fleet_server(sqlite_store: Store, broker: Broker) -> Server:
    add_users(sqlite_store)
    for n in range(250):
        sqlite_store.register_device(f"box-{n:03d}", SITES[n % 3], "traffic", secrets.token_hex(32))
    for n in range(3):
        sqlite_store.revoke_device(f"box-{n:03d}")
    return Server(settings_for(broker), sqlite_store)


def test_the_api_pages_and_filters_a_fleet_of_250(fleet_server: Server) -> None:
    with fleet_server as server:
        viewer = server.login("viewer")
        everything = viewer.get("/api/devices").json()  # up to 500 by default
        assert len(everything) >= 250  # and the test store's own box
        first = viewer.get("/api/devices", params={"limit": 100})
        assert len(first.json()) == 100 and first.headers["X-Total-Count"] == str(len(everything))
        seen = {d["device"] for offset in (0, 100, 200)
                for d in viewer.get("/api/devices", params={"limit": 100, "offset": offset}).json()}
        assert len(seen) == len(everything)
        revoked = viewer.get("/api/devices", params={"state": "revoked"})
        assert {d["device"] for d in revoked.json()} == {"box-000", "box-001", "box-002"}
        site_b = viewer.get("/api/devices", params={"site": "site-b", "limit": 1000}).json()
        assert len(site_b) == 83 and {d["site"] for d in site_b} == {"site-b"}
        for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"state": "gone"}, {"site": "../x"},
                    {"software": "1.0;drop"}):
            assert viewer.get("/api/devices", params=bad).status_code == 422, bad


def test_the_devices_page_shows_one_page_with_a_way_to_the_next(fleet_server: Server) -> None:
    with fleet_server as server:
        viewer = server.login("viewer")
        total = len(viewer.get("/api/devices").json())
        page = viewer.get("/devices").text
        assert page.count('<tr id="device-') == 100 and 'id="next"' in page and 'id="prev"' not in page
        assert f"{total} ·" in page and f"({total - 3})" in page  # matching; never seen: offline, a problem
        last = viewer.get("/devices", params={"page": 2}).text
        assert last.count('<tr id="device-') == total - 200 and 'id="next"' not in last and 'id="prev"' in last
        revoked = viewer.get("/devices", params={"state": "revoked"}).text
        assert revoked.count('<tr id="device-') == 3
