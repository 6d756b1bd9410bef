"""Jurisdictions (issue 15): loading a large region tree, and the office's reads through a Scope.

1. tree load: a 100,000-line table (quick: 20,000; a county of 100 townships and their
   communities) checked line by line and written in one transaction, on SQLite and on PostgreSQL.
   Baseline: reading and checking the same table alone (central.sheets), in the same run: the ratio
   is what the tree's checks and the database add.
2. dashboard through a Scope: bench_central's pages and API reads (1,000,000 verdicts; quick:
   100,000; SQLite) as an admin of a county that holds 7 of the 10 checkpoints, every query then
   filtered by the county's subtree. Baseline: the same reads as an admin of the whole deployment
   (no filter), in the same run, on the same database. Target p95 < 200 ms.

Run: python -m bench.run --only regions [--quick]; or python -m bench.bench_regions [--quick].
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.bench_central import SITES, dashboard_latency, load, postgres_database
from bench.harness import Figure
from central import regions, sheets
from central.store import Store

COUNTY, OTHER = "390102", "390103"


def table(lines: int) -> bytes:
    """A county's tree of about `lines` lines: 100 townships, the rest communities spread over them."""
    rows = ["代码,名称,上级代码", "39,示例省,", "3901,示例市,39", f"{COUNTY},东湖县,3901", f"{OTHER},西山县,3901"]
    per_town = max(1, (lines - len(rows) - 100) // 100)
    for town in range(1, 101):
        code = f"{COUNTY}{town:03d}"
        rows.append(f"{code},第{town}街道,{COUNTY}")
        rows += [f"{code}{n:03d},第{town}街道第{n}社区,{code}" for n in range(1, min(per_town, 999) + 1)]
    return "\n".join(rows).encode()


def tree_load(url: str, data: bytes) -> float:
    store = Store(url)
    store.migrate()
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        regions.load_tree(conn, regions.WHOLE, data)
    seconds = time.perf_counter() - t0
    store.dispose()
    return seconds


def reading(data: bytes) -> float:
    t0 = time.perf_counter()
    sheet = sheets.read(data, regions.COLUMNS)
    sheets.check(sheet, lambda cells: regions.parse_line(cells, regions.ROOT), lambda node: node.code)
    return time.perf_counter() - t0


def run(quick: bool) -> list[Figure]:
    lines = 20_000 if quick else 100_000
    verdicts = 100_000 if quick else 1_000_000
    data = table(lines)
    count = data.count(b"\n")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = reading(data)
        for label, url in (("SQLite", f"sqlite:///{work / 'tree.sqlite'}"), ("PostgreSQL", None)):
            if url is None:
                with postgres_database() as pg:
                    seconds = tree_load(pg, data)
            else:
                seconds = tree_load(url, data)
            figures.append(Figure(
                bench="regions", name=f"region tree load, {count:,} lines, {label}, all or nothing",
                value=round(seconds, 2), unit="s", baseline_name="reading and checking the table alone",
                baseline=round(base, 2), higher_is_better=False, target="< 30 s", met=seconds < 30))
        store = Store(f"sqlite:///{work / 'dash.sqlite'}")
        load(store, verdicts)
        with store.engine.begin() as conn:
            regions.load_tree(conn, regions.WHOLE, table(500))
            for n, site in enumerate(SITES):
                regions.place_site(conn, site, f"{COUNTY}{n % 5 + 1:03d}" if n not in (6, 7, 8) else OTHER)
        rounds = 10 if quick else 30
        whole, _health, _ = dashboard_latency(store, rounds, "bench-root")
        county, _health, per_path = dashboard_latency(store, rounds, "bench-county", COUNTY)
        store.dispose()
    slowest = max(per_path.items(), key=lambda kv: kv[1])
    figures.append(Figure(
        bench="regions", name=f"dashboard p95 as a county's admin (7 of 10 checkpoints), {verdicts:,} verdicts, "
        f"SQLite (slowest {slowest[0]} {slowest[1]:.0f} ms)", value=round(county, 1), unit="ms",
        baseline_name="the same reads as the whole deployment's admin (no filter)", baseline=round(whole, 1),
        higher_is_better=False, target="p95 < 200 ms", met=county < 200))
    return figures


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv):
        print(figure.model_dump_json())
