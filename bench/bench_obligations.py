"""Follow-up obligations at a county's scale (issue 15): the overdue scan and the worklist query.

A database loaded with 1,000,000 verdicts (quick: 100,000) through the ingest path, as
bench_central loads it, and 100,000 open obligations (quick: 10,000) on their cases, owed by the
offices of a county's tree (the county, 20 townships, 200 communities), deadlines spread over the
past day and the next three (some already due).

1. overdue scan: `central.obligations.mark_overdue` as each replica runs it every `scan_s`, each
   time with the next 100 obligations newly past their deadline (as a busy day brings them): the
   select of what is due, the machine's step, the conditional update, the case history and the
   webhook alert, committed. Timed per scan; p95.
2. worklist: GET /worklist (the page) and GET /api/obligations (the API) over real HTTP, as a
   user of the county (every obligation in scope), of a township and of a community; p95 of all.

Baseline for both: GET /healthz on the same server, in the same run. Target p95 < 200 ms.
Run: python -m bench.run --only obligations [--quick]; or python -m bench.bench_obligations [--quick].
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bench.bench_central import SITES, load, postgres_database
from bench.harness import Figure, percentile
from central.auth import Accounts, Role
from central.config import CentralSettings
from central.obligations import mark_overdue, refresh_statistics
from central.regions import ROOT, paths_of
from central.schema import cases, obligations, regions, sites
from central.sql import aware
from central.store import Store
from central.web import create_app
from checkpoint.broker import free_port

COUNTY = "420102"
TOWNS = [f"{COUNTY}{t:03d}" for t in range(1, 21)]
COMMUNITIES = [f"{town}{c:03d}" for town in TOWNS for c in range(1, 11)]
KINDS = ["test_on_arrival", "isolation_transfer", "register_destination", "fever_clinic"]
PER_SCAN = 100
PASSWORD = "bench-password-1"


def plant(store: Store) -> None:
    """The county's tree, and the bench's checkpoints at the county."""
    tree = {"42": ROOT, "4201": "42", COUNTY: "4201", **{t: COUNTY for t in TOWNS},
            **{c: c[:9] for c in COMMUNITIES}}
    paths = paths_of(tree)
    with store.engine.begin() as conn:
        conn.execute(regions.insert(), [dict(code=c, name=c, parent=p, path=paths[c]) for c, p in tree.items()])
        conn.execute(sites.update().where(sites.c.site.in_(SITES)).values(region=COUNTY))


def owe(store: Store, count: int, start: datetime) -> None:
    """`count` open obligations, each on a case of its own, deadlines from a day ago to three days on."""
    rng = random.Random(15)
    span = timedelta(days=4) / count
    with store.engine.begin() as conn:
        first = (conn.scalar(select(func.max(cases.c.id))) or 0) + 1
        for chunk in range(0, count, 5000):
            n = range(chunk, min(count, chunk + 5000))
            case_rows, owed = [], []
            for i in n:
                passed = start + span * i
                case_rows.append(dict(id=first + i, pseudonym=f"{i:064x}", status="new", severity="review",
                                      reasons=["code_yellow"], opened_at=passed, updated_at=passed, first_seen=passed,
                                      first_site=SITES[i % len(SITES)], first_device="box-00", last_seen=passed,
                                      last_site=SITES[i % len(SITES)], verdicts=1, id_masked="110***********0014",
                                      plate="鄂A12345", destination="幸福小区"))
                node = rng.choice((COUNTY, *TOWNS, *COMMUNITIES, *COMMUNITIES))
                kind = rng.choice(KINDS)
                owed.append(dict(case_id=first + i, pseudonym=f"{i:064x}", kind=kind, node=node, destination=node,
                                 site=SITES[i % len(SITES)], state="open", opened_at=passed,
                                 deadline=passed + timedelta(hours=4 if "transfer" in kind else 24), updated_at=passed,
                                 late=False))
            conn.execute(cases.insert(), case_rows)
            conn.execute(obligations.insert(), owed)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # what autovacuum does on a server that has been running
    refresh_statistics(store.engine)  # what the overdue scan does on SQLite, at its start and hourly


def scan_latency(store: Store, rounds: int) -> list[float]:
    """Each round, the next PER_SCAN deadlines pass: one scan marks them overdue. ms per scan."""
    mark_overdue(store.engine, store.obligations, datetime.now(UTC))  # what is due already (the past day)
    with store.engine.connect() as conn:
        upcoming = [aware(d) for d in conn.scalars(select(obligations.c.deadline).where(obligations.c.state == "open")
                                                   .order_by(obligations.c.deadline))]
    timings = []
    for r in range(1, rounds + 1):
        at = upcoming[r * PER_SCAN - 1]
        t0 = time.perf_counter()
        marked = mark_overdue(store.engine, store.obligations, at)
        timings.append((time.perf_counter() - t0) * 1000)
        assert marked >= PER_SCAN - 1, marked
    return timings


@contextmanager
def serving(store: Store) -> Iterator[httpx.Client]:
    import uvicorn

    port = free_port()
    settings = CentralSettings.model_validate({"http": {"port": port}})
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def worklist_latency(store: Store, rounds: int) -> tuple[list[float], list[float], dict[str, float]]:
    accounts = Accounts(store.engine)
    users = {"county": COUNTY, "town": TOWNS[3], "community": COMMUNITIES[17]}
    for name, node in users.items():
        accounts.add(name, PASSWORD, Role.OPERATOR, node)
    timings: dict[str, list[float]] = {}
    with serving(store) as client:
        tokens = {name: client.post("/api/session", json={"username": name, "password": PASSWORD}).json()["token"]
                  for name in users}
        asks = [(name, path) for name in users for path in ("/worklist", "/api/obligations?limit=100",
                                                             "/api/obligations?limit=100&offset=1000")]
        for name, path in [*asks, ("county", "/healthz")]:  # warm-up
            client.get(path, headers={"Authorization": f"Bearer {tokens[name]}"}).raise_for_status()
        for _ in range(rounds):
            for name, path in [*asks, ("county", "/healthz")]:
                t0 = time.perf_counter()
                client.get(path, headers={"Authorization": f"Bearer {tokens[name]}"}).raise_for_status()
                timings.setdefault(f"{name} {path}", []).append((time.perf_counter() - t0) * 1000)
    health = timings.pop("county /healthz")
    pages = [t for ts in timings.values() for t in ts]
    return pages, health, {k: percentile(v, 95) for k, v in timings.items()}


def run(quick: bool) -> list[Figure]:
    verdicts = 100_000 if quick else 1_000_000
    owed = 10_000 if quick else 100_000
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("SQLite", "PostgreSQL"):
            sqlite = nullcontext(f"sqlite:///{Path(tmp) / 'obligations.sqlite'}")
            with postgres_database() if label == "PostgreSQL" else sqlite as url:
                store = Store(url, alert_urls=["http://127.0.0.1:9/hook"],
                              deadlines=CentralSettings().obligations.deadlines_h)
                load(store, verdicts)
                plant(store)
                owe(store, owed, datetime.now(UTC) - timedelta(days=1))
                scans = scan_latency(store, rounds=10 if quick else 30)
                pages, health, per_path = worklist_latency(store, rounds=5 if quick else 15)
                store.dispose()
            base = percentile(health, 95)
            slowest = max(per_path.items(), key=lambda kv: kv[1])
            scan = percentile(scans, 95)
            work = percentile(pages, 95)
            figures += [
                Figure(bench="obligations",
                       name=f"overdue scan p95, {PER_SCAN} newly due among {owed:,} open, {verdicts:,} verdicts, "
                            f"{label} (marked, history and alert committed)",
                       value=round(scan, 1), unit="ms", baseline_name="GET /healthz p95 (HTTP, no query)",
                       baseline=round(base, 1), higher_is_better=False, target="p95 < 200 ms", met=scan < 200),
                Figure(bench="obligations",
                       name=f"worklist p95 (page and API; county, township, community), {owed:,} open, "
                            f"{verdicts:,} verdicts, {label} (slowest {slowest[0]} {slowest[1]:.0f} ms)",
                       value=round(work, 1), unit="ms", baseline_name="GET /healthz p95 (HTTP, no query)",
                       baseline=round(base, 1), higher_is_better=False, target="p95 < 200 ms", met=work < 200),
            ]
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        print(f"{f.name}: {f.value} {f.unit} (baseline {f.baseline_name}: {f.baseline}; target {f.target}: "
              f"{'met' if f.met else 'NOT met'})")
