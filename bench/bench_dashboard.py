"""The office's dashboard at a province's scale (issue 16): ten million verdicts of 10,000 boxes on PostgreSQL.

1. fill: a database of its own (created and dropped here), migrated by central's own Alembic
   migrations, then filled server-side (INSERT ... SELECT over generate_series, so filling takes
   minutes): a province's tree (10 cities, 100 counties, 1,000 townships), 2,000 checkpoints of
   5 boxes each, 10,000,000 verdicts (quick: 1,000,000) over the 29 days the retention keeps
   (`verdict_days` 30), 2 % flagged (a third denied, code red; the rest for review, code yellow or
   fever, owing a test on arrival), each flagged person's verdicts on one case (a tenth still open,
   their obligations open or overdue, the rest closed and done), every box's status, life counters
   and last hour of metrics, 1 box in 50 with gaps in its sequence numbers, 1 in 50 offline, 1 in
   200 revoked, and the counters central keeps at ingest (daily figures, lives) counted from the
   verdicts, and a year of daily figures before them (they outlive the verdicts). Then VACUUM ANALYZE
   (what autovacuum does on a server that has been running).
2. `checkpoint central` as deployed (the collector in its main process, the office's web server in
   a child) against that database and a real Mosquitto; the office's pages, API reads and exports
   (XLSX and CSV) over real HTTP, each many times, as an admin of the whole province and as an
   admin of one county (every query then filtered by the county's subtree). Every GET route of the
   app is asked (the bench fails on a route it has no request for, or that it leaves out without a
   reason), the devices page with each of its filters. Baseline: GET /healthz on the same server,
   in the same run. Target: every path's p95 < 200 ms.

The cases, figures and report exports are built in the background (central.export_jobs): each user's
are started as the pages start them and followed until ready (the start and the seconds until ready
are figures of their own) before the timed rounds, which then ask them as the pages do and find the
jobs done.

Run: python -m bench.run --only dashboard [--quick]; or python -m bench.bench_dashboard [--quick].
BENCH_DASHBOARD_DB=name keeps the filled database under that name and, when it is there already,
reuses it instead of filling again (new migrations are applied to it; the boxes' last signs of life
are moved up to now). Drop it afterwards: `dropdb name`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi.routing import APIRoute, iter_route_contexts
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, text

from bench.bench_central import make_verdict, postgres_database
from bench.bench_fleet import CentralService
from bench.harness import Figure, percentile
from central.auth import Accounts, Role
from central.config import CentralSettings, ExportSettings
from central.regions import ROOT, paths_of
from central.schema import regions, sites
from central.store import Store
from central.web import create_app
from checkpoint.broker import Broker

OUT = Path(__file__).parent
JOB_EXPORTS = tuple(f"/api/exports/{what}." for what in ("cases", "figures", "report"))  # the others: sent at once
ASYNC = {"Prefer": "respond-async"}  # as the pages ask
BOXES = 10_000
BOXES_PER_SITE = 5
HISTORY_DAYS = 336  # daily figures outlive the verdicts (never purged): a year of them, the older days copied
DAYS = 29  # inside the retention's 30 days: the retention job deletes nothing while the bench runs
FLAGGED_PER_MILLE = 20
FLAGGED_PEOPLE = 100_000  # a flagged person passes about twice: one case each
TRAVELLERS = 2_000_000
CHUNK = 250_000
PASSWORD = "bench-password-1"
PROVINCE = "42"
CITIES = [f"{PROVINCE}{c:02d}" for c in range(1, 11)]
COUNTIES = [f"{city}{k:02d}" for city in CITIES for k in range(1, 11)]
TOWNS = [f"{county}{t:03d}" for county in COUNTIES for t in range(1, 11)]


def site_of(box: int) -> str:
    return f"site-{box // BOXES_PER_SITE:04d}"


# 1. the fill


def _plant_tree(conn: Connection) -> None:
    tree = {PROVINCE: ROOT, **{c: PROVINCE for c in CITIES}, **{k: k[:4] for k in COUNTIES},
            **{t: t[:6] for t in TOWNS}}
    paths = paths_of(tree)
    conn.execute(regions.insert(), [dict(code=c, name=f"区划{c}", parent=p, path=paths[c]) for c, p in tree.items()])
    conn.execute(sites.insert(), [dict(site=f"site-{s:04d}", region=TOWNS[s % len(TOWNS)])
                                  for s in range(BOXES // BOXES_PER_SITE)])


def _verdicts_sql(total: int) -> str:
    """Verdicts n of [lo, hi): box n mod BOXES, its sequence number n div BOXES + 1, spread evenly over
    DAYS; r a hash of n that decides who passes and whether the verdict is flagged."""
    per_box = total // BOXES
    step_s = DAYS * 86400 / per_box
    return f"""
    INSERT INTO verdicts (id, site, device, epoch, seq, boot, device_time, received_at, clock_synced, kind,
        decision, flagged, reasons, follow_up, pseudonym, id_masked, colour, colour_source, body_c, plate,
        origin, destination, policy_version, overridden, supersedes, replayed, payload, case_id)
    SELECT gen_random_uuid()::text, 'site-' || lpad((b / {BOXES_PER_SITE})::text, 4, '0'),
        'box-' || lpad(b::text, 5, '0'), 'e1', s, 1, t, t + interval '1.5 seconds', true, 'traffic',
        CASE WHEN NOT f THEN 'pass' WHEN r % 3 = 0 THEN 'deny' ELSE 'review' END, f,
        (CASE WHEN NOT f THEN '["code_green","temp_normal"]' WHEN r % 3 = 0 THEN '["code_red"]'
              WHEN r % 3 = 1 THEN '["code_yellow"]' ELSE '["fever_confirmed"]' END)::json,
        (CASE WHEN NOT f THEN '[]' WHEN r % 3 = 0 THEN '["turn_back"]' WHEN r % 3 = 1 THEN '["test_on_arrival"]'
              ELSE '["fever_clinic"]' END)::json,
        encode(sha256(convert_to(CASE WHEN f THEN 'f' || fp ELSE 't' || (n * 7919) % {TRAVELLERS} END, 'UTF8')),
               'hex'),
        '110***********' || lpad((n % 10000)::text, 4, '0'),
        CASE WHEN NOT f THEN 'green' WHEN r % 3 = 0 THEN 'red' ELSE 'yellow' END, 'signed_payload',
        CASE WHEN f AND r % 3 = 2 THEN 38.4 ELSE 36.6 END, '鄂A' || lpad((n % 100000)::text, 5, '0'), '420100',
        '幸福小区', 'bench-1', false, NULL, false,
        CASE WHEN f THEN CAST(:flagged_payload AS json) ELSE CAST(:payload AS json) END,
        CASE WHEN f THEN fp + 1 END
    FROM (
        SELECT n, b, s, r, r % 1000 < {FLAGGED_PER_MILLE} AS f, (r / 1000) % {FLAGGED_PEOPLE} AS fp,
            CAST(:start AS timestamptz)
                + make_interval(secs => (s - 1) * {step_s} + (b * 37) % {max(1, int(step_s))}) AS t
        FROM (SELECT n, n % {BOXES} AS b, n / {BOXES} + 1 AS s, (n * 2654435761) % 4294967296 AS r
              FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS n) AS g
    ) AS v
    WHERE NOT (b % 50 = 7 AND s % 97 = 0)  -- 1 box in 50 has gaps
    """


def _after_verdicts(start: datetime, now: datetime) -> list[tuple[str, str, dict[str, Any]]]:
    """What central keeps beside the verdicts, counted from them: (what, statement, parameters)."""
    zone = CentralSettings().timezone
    flags = "reasons::jsonb ? '{}'"
    boxes = f"SELECT b, 'box-' || lpad(b::text, 5, '0') AS device, 'site-' || lpad((b / {BOXES_PER_SITE})::text, 4, " \
            f"'0') AS site FROM generate_series(0, {BOXES - 1}) AS b"
    return [
        ("boxes", f"""INSERT INTO devices (device, site, kind, key_hex, revoked, registered_at)
            SELECT device, site, 'traffic', md5(device) || md5(site), b % 200 = 199, :start FROM ({boxes}) AS x""",
         {}),
        ("box status", f"""INSERT INTO device_status (device, site, state, epoch, boot, connection, order_n, last_seen,
                software, policy_version, health, metrics, device_time, clock_offset_s)
            SELECT device, site, CASE WHEN b % 50 = 3 THEN 'offline' ELSE 'online' END, 'e1', 1, 1, 0,
                CAST(:now AS timestamptz) - CASE WHEN b % 50 = 3 THEN interval '2 days' ELSE interval '0' END,
                CASE WHEN b % 10 < 3 THEN '1.5.0' ELSE '1.4.2' END, 'bench-1',
                '{{"camera": "ok", "reader": "ok", "thermometer": "ok"}}'::json,
                '{{"outbox_depth": 0, "outbox_capacity": 100000}}'::json, :now, 0.2
            FROM ({boxes}) AS x""", {}),
        ("metrics (each box's last hour)", f"""INSERT INTO device_metrics (device, received_at, outbox_depth,
                outbox_capacity, cpu_percent, cpu_temp_c, disk_free_mb)
            SELECT device, CAST(:now AS timestamptz) - make_interval(secs => k * 30), 0, 100000, 20 + k % 7, 50, 20000
            FROM ({boxes}) AS x, generate_series(0, 119) AS k""", {}),
        ("lives", """INSERT INTO device_lives (device, epoch, site, max_seq, stored, produced, last_verdict_at, boot,
                connection, order_n, first_seen)
            SELECT device, epoch, min(site), max(seq), count(*), max(seq), max(received_at), 1, 1, 0, :start
            FROM verdicts GROUP BY device, epoch""", {}),
        ("daily figures", f"""INSERT INTO daily_figures (site, day, total, passed, review, deny, fever, code_yellow,
                code_red, watchlist, overridden)
            SELECT site, (device_time AT TIME ZONE '{zone}')::date, count(*),
                count(*) FILTER (WHERE decision = 'pass'), count(*) FILTER (WHERE decision = 'review'),
                count(*) FILTER (WHERE decision = 'deny'), count(*) FILTER (WHERE flagged AND {flags.format(
                    'fever_confirmed')}), count(*) FILTER (WHERE flagged AND {flags.format('code_yellow')}),
                count(*) FILTER (WHERE flagged AND {flags.format('code_red')}), 0, 0
            FROM verdicts GROUP BY 1, 2""", {}),
        ("daily figures of the year before", f"""INSERT INTO daily_figures (site, day, total, passed, review, deny,
                fever, code_yellow, code_red, watchlist, overridden)
            SELECT site, CAST(:start AS date) - k, total, passed, review, deny, fever, code_yellow, code_red,
                watchlist, overridden
            FROM daily_figures AS f, generate_series(1, {HISTORY_DAYS}) AS k
            WHERE f.day = CAST(:start AS date) + 1 + k % {DAYS - 2}""", {}),
        ("cases", """INSERT INTO cases (id, pseudonym, status, severity, reasons, opened_at, updated_at, closed_at,
                first_seen, first_site, first_device, last_seen, last_site, verdicts, id_masked, identity, plate,
                origin, destination)
            SELECT case_id, min(pseudonym), CASE WHEN case_id % 10 = 0 THEN 'new' ELSE 'closed' END,
                CASE WHEN bool_or(decision = 'deny') THEN 'deny' ELSE 'review' END, min(reasons::text)::json,
                min(received_at), max(received_at),
                CASE WHEN case_id % 10 = 0 THEN NULL ELSE max(received_at) + interval '1 hour' END,
                min(device_time), (array_agg(site ORDER BY device_time))[1],
                (array_agg(device ORDER BY device_time))[1], max(device_time),
                (array_agg(site ORDER BY device_time DESC))[1], count(*), min(id_masked),
                '{"name": "测试", "id_number": "110105195001010014"}'::json, min(plate), '420100', '幸福小区'
            FROM verdicts WHERE flagged GROUP BY case_id""", {}),
        ("case events", """INSERT INTO case_events (case_id, at, actor, action, detail)
            SELECT case_id, received_at, 'central',
                CASE WHEN row_number() OVER (PARTITION BY case_id ORDER BY device_time) = 1 THEN 'opened'
                     ELSE 'joined' END,
                json_build_object('verdict', id, 'site', site, 'device', device, 'device_time', device_time,
                                  'decision', decision, 'reasons', reasons)
            FROM verdicts WHERE flagged
            UNION ALL
            SELECT id, closed_at, 'bench-admin', 'closed', '{"note": ""}'::json FROM cases WHERE closed_at IS NOT NULL
            """, {}),
        ("obligations", """INSERT INTO obligations (case_id, pseudonym, kind, node, destination, site, state,
                opened_at, deadline, updated_at, overdue_at, closed_at, late, proof)
            SELECT c.id, c.pseudonym, 'test_on_arrival', s.region, s.region, c.first_site,
                CASE WHEN c.closed_at IS NOT NULL THEN 'done' WHEN c.id % 20 = 0 THEN 'overdue' ELSE 'open' END,
                c.opened_at,
                CASE WHEN c.closed_at IS NULL AND c.id % 20 = 10 THEN CAST(:now AS timestamptz) + interval '1 day'
                     ELSE c.opened_at + interval '1 day' END,
                c.updated_at,
                CASE WHEN c.closed_at IS NULL AND c.id % 20 = 0 THEN c.opened_at + interval '1 day' END,
                c.closed_at, false, CASE WHEN c.closed_at IS NOT NULL THEN 'test_result' END
            FROM cases AS c JOIN sites AS s ON s.site = c.first_site
            WHERE c.reasons::text LIKE '%code_yellow%'""", {}),
        ("registrations", f"""INSERT INTO registrations (pseudonym, id_masked, plate, origin, destination, expected,
                imported_at, batch, username)
            SELECT encode(sha256(convert_to('r' || k, 'UTF8')), 'hex'), '110***********0014', NULL, '420100',
                (ARRAY[{",".join(f"'{t}'" for t in TOWNS[:200])}])[k % 200 + 1],
                CAST(:now AS timestamptz)::date + (k % 5 - 1), :now, 'bench-1', 'bench'
            FROM generate_series(1, 50000) AS k""", {}),
    ]


def _drop_indexes(conn: Connection, table: str) -> list[str]:
    """Drop the table's indexes and primary key, as the migrations made them; the statements that make
    them again exactly so (a bulk load then builds each index once instead of growing it row by row)."""
    key = conn.execute(text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'p'"), dict(t=table)).one()
    indexes = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND indexname != :k"),
                           dict(t=table, k=key[0])).all()
    for name, _ in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{key[0]}"'))
    conn.commit()
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{key[0]}" {key[1]}', *(definition for _, definition in indexes)]


def fill(store: Store, total: int) -> dict[str, float]:
    """Migrate and fill (with a progress bar); the seconds each part took."""
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    store.migrate()
    payload = make_verdict(0, 1, "site-0000", "box-00000", start, False).model_dump_json()
    flagged_payload = make_verdict(0, 1, "site-0000", "box-00000", start, True).model_dump_json()
    seconds: dict[str, float] = {}
    chunks = [(lo, min(total, lo + CHUNK)) for lo in range(0, total, CHUNK)]
    after = _after_verdicts(start, now)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress, store.engine.connect() as conn:
        conn.execute(text("SET synchronous_commit = off"))
        conn.execute(text("SET maintenance_work_mem = '512MB'"))
        conn.commit()
        _plant_tree(conn)
        conn.commit()
        t0 = time.perf_counter()
        task = progress.add_task("verdicts", total=total)
        sql = text(_verdicts_sql(total))
        rebuild = _drop_indexes(conn, "verdicts")
        for lo, hi in chunks:
            conn.execute(sql, dict(lo=lo, hi=hi, start=start, payload=payload, flagged_payload=flagged_payload))
            conn.commit()
            progress.advance(task, hi - lo)
        seconds["verdicts"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        progress.update(task, description="verdicts' indexes")
        for statement in rebuild:
            conn.execute(text(statement))
            conn.commit()
        seconds["verdicts' indexes"] = time.perf_counter() - t0
        rest = progress.add_task("beside them", total=len(after) + 1)
        for what, statement, params in after:
            progress.update(rest, description=what)
            t0 = time.perf_counter()
            conn.execute(text(statement), dict(params, start=start, now=now))
            conn.commit()
            seconds[what] = time.perf_counter() - t0
            progress.advance(rest)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
        conn.commit()
        progress.update(rest, description="vacuum analyze")
        t0 = time.perf_counter()
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.execute(text("VACUUM ANALYZE"))
        seconds["vacuum analyze"] = time.perf_counter() - t0
        progress.advance(rest)
    return seconds


KEEP = "BENCH_DASHBOARD_DB"  # a database's name: filled the first time, kept, and only reused after


def _kept_fill(store: Store, total: int) -> float | None:
    """The seconds a kept database took to fill, brought up to now (central's own new migrations; boxes'
    last signs of life and metrics moved forward by the time since, the bench's users made anew); None
    if it is still empty."""
    with store.engine.begin() as conn:
        if conn.execute(text("SELECT to_regclass('bench_fill')")).scalar_one() is None:
            if conn.execute(text("SELECT to_regclass('verdicts')")).scalar_one() is not None:
                raise RuntimeError(f"{KEEP}: the database is partly filled (no bench_fill): drop it and run again")
            return None
        at, verdicts, seconds, moved = conn.execute(text("SELECT at, verdicts, seconds, moved FROM bench_fill")).one()
        if verdicts != total:
            raise RuntimeError(f"{KEEP}: the database holds {verdicts:,} verdicts, not {total:,}: use another name")
        print(f"reusing the database filled at {at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
        shift = dict(shift=datetime.now(UTC) - moved)
        conn.execute(text("UPDATE device_status SET last_seen = last_seen + :shift, "
                          "device_time = device_time + :shift"), shift)
        conn.execute(text("UPDATE device_metrics SET received_at = received_at + :shift"), shift)
        conn.execute(text("UPDATE bench_fill SET moved = moved + :shift"), shift)
        conn.execute(text("DELETE FROM sessions"))
        conn.execute(text("DELETE FROM users"))
    store.migrate()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        auto.execute(text("ANALYZE"))
    return float(seconds)


# 2. the pages


PageSamples = Callable[[dict[str, str]], list[str]]

# Every GET route of the app: what to ask of it (given a few ids from the filled database), or why not.
SKIPPED = {
    "/healthz": "the baseline",
    "/login": "no database read", "/lang/{lang}": "a redirect", "/openapi.json": "no database read",
    "/regions/sample.csv": "a file shipped with central",
    "/api/box/releases/{version}/{name}": "boxes only (their own credentials), a file from disk",
    "/api/devices/{device}/diagnostics/{request_id}": "the bench sends no diagnostics request",
    "/api/feed": "a stream (server-sent events) that stays open; its query is flagged_since, asked by /api/verdicts",
}


def samples(day: str, ids: dict[str, str]) -> dict[str, list[str]]:
    site, box, gappy, case = ids["site"], ids["box"], ids["gappy"], ids["case"]
    exports = [f"/api/exports/ledger.{f}?site={site}&day={day}" for f in ("xlsx", "csv")]
    return {
        "/": ["/"],
        "/cases": ["/cases", "/cases?status=all", "/cases?status=closed&page=3"],
        "/cases/{case_id}": [f"/cases/{case}"],
        "/devices": ["/devices", "/devices?state=problems", "/devices?state=offline", "/devices?state=revoked",
                     "/devices?state=online&page=20", f"/devices?site={site}", "/devices?software=1.5.0",
                     "/devices?state=all&page=99"],
        "/devices/{device}": [f"/devices/{box}", f"/devices/{gappy}"],
        "/figures": ["/figures", f"/figures?first={date.fromisoformat(day) - timedelta(days=26)}&page=50",
                     f"/figures?site={site}"],
        "/ledger": [f"/ledger?site={site}&day={day}"],
        "/lists": ["/lists"],
        "/audit": ["/audit"],
        "/worklist": ["/worklist"],
        "/regions": ["/regions"],
        "/registrations": ["/registrations"],
        "/report": ["/report", f"/report?day={day}", f"/report?day={day}&page=5"],
        "/api/me": ["/api/me"],
        "/api/verdicts": ["/api/verdicts", "/api/verdicts?flagged=true&limit=50", f"/api/verdicts?site={site}",
                          f"/api/verdicts?device={box}", f"/api/verdicts?site={site}&flagged=true",
                          f"/api/verdicts?since={quote(ids['since'])}&limit=1000"],
        "/api/verdicts/{verdict_id}": [f"/api/verdicts/{ids['verdict']}"],
        "/api/cases": ["/api/cases", "/api/cases?status=open", "/api/cases?status=closed&offset=5000"],
        "/api/cases/{case_id}": [f"/api/cases/{case}"],
        "/api/devices": ["/api/devices", "/api/devices?state=problems", "/api/devices?state=offline&limit=100",
                         f"/api/devices?site={site}", "/api/devices?offset=9000&limit=1000"],
        "/api/devices/{device}/gaps": [f"/api/devices/{gappy}/gaps", f"/api/devices/{box}/gaps"],
        "/api/devices/{device}/metrics": [f"/api/devices/{box}/metrics"],
        "/api/collectors": ["/api/collectors"],
        "/api/figures/daily": ["/api/figures/daily", f"/api/figures/daily?site={site}"],
        "/api/counts": ["/api/counts"],
        "/api/pushes": ["/api/pushes"],
        "/api/releases": ["/api/releases"],
        "/api/rollouts": ["/api/rollouts"],
        "/api/rollouts/{rollout}": [],  # none started: a 404 is no timing
        "/api/audit": ["/api/audit"],
        "/api/obligations": ["/api/obligations", "/api/obligations?limit=100&offset=1000"],
        "/api/regions": ["/api/regions"],
        "/api/registrations": ["/api/registrations"],
        "/api/reports/daily": ["/api/reports/daily", f"/api/reports/daily?day={day}"],
        "/api/exports/ledger.{fmt}": exports,
        "/api/exports/figures.{fmt}": ["/api/exports/figures.xlsx", "/api/exports/figures.csv"],
        "/api/exports/cases.{fmt}": ["/api/exports/cases.xlsx", "/api/exports/cases.csv"],
        "/api/exports/report.{fmt}": ["/api/exports/report.xlsx", "/api/exports/report.csv"],
        # the job of each user's cases XLSX (built_in_background puts its id in)
        "/api/exports/jobs/{job_id}": ["/api/exports/jobs/{job}"],
        "/api/exports/jobs/{job_id}/file": ["/api/exports/jobs/{job}/file"],
    }


def asks(store: Store, day: str, ids: dict[str, str]) -> list[str]:
    """Every GET route's requests; fails on a route that has none and no reason to be left out."""
    app = create_app(CentralSettings(exports=ExportSettings(process=False)), store)  # its routes only: no builder
    wanted = samples(day, ids)
    paths: list[str] = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()) or path in SKIPPED:
            continue
        if path not in wanted:
            raise RuntimeError(f"bench_dashboard has no request for GET {path}: add one, or a reason to skip")
        paths += wanted[path]
    return paths


def some_ids(store: Store) -> dict[str, str]:
    """A checkpoint, boxes, a case and a verdict of COUNTY's (so both users see them)."""
    site = "site-0171"  # at TOWNS[171], in COUNTIES[17]
    with store.engine.connect() as conn:
        def one(sql: str) -> str:
            return str(conn.execute(text(sql), dict(site=site)).scalar_one())
        return {
            "site": site,
            "box": "box-00856",
            "gappy": "box-00857",  # b % 50 == 7: gaps
            "case": one("SELECT id FROM cases WHERE closed_at IS NULL AND first_site = :site ORDER BY id LIMIT 1"),
            "verdict": one("SELECT id FROM verdicts WHERE flagged AND site = :site ORDER BY received_at DESC LIMIT 1"),
            "since": (conn.execute(text("SELECT at FROM bench_fill")).scalar_one() - timedelta(hours=1)).isoformat(),
        }


def built_in_background(http: httpx.Client, paths: list[str]) -> tuple[dict[str, float], dict[str, float], str]:
    """Each export that answers with a job, started as the pages start it (Prefer: respond-async) and
    followed until its file is ready: the ms the start took, the s until ready; the cases XLSX's job."""
    started: dict[str, float] = {}
    ready: dict[str, float] = {}
    job_of: dict[str, str] = {}
    for path in (p for p in paths if p.startswith(JOB_EXPORTS)):
        t0 = time.perf_counter()
        answer = http.get(path, headers=ASYNC)
        started[path] = (time.perf_counter() - t0) * 1000
        if answer.status_code != 202:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
        job = answer.json()
        with http.stream("GET", job["progress"], params={"follow": "true"}) as lines:
            last = [json.loads(line) for line in lines.iter_lines() if line][-1]
        if last["state"] != "done":
            raise RuntimeError(f"{path}: {last}")
        ready[path] = time.perf_counter() - t0
        job_of[path] = job["id"]
        print(f"job   {started[path]:8.1f} ms, ready in {ready[path]:6.2f} s {path} ({last['total']:,} rows)",
              file=sys.stderr)
    return started, ready, job_of["/api/exports/cases.xlsx"]


def time_paths(http: httpx.Client, paths: list[str], rounds: int) -> dict[str, list[float]]:
    """Each path `rounds` times (after one warm-up), round-robin with /healthz: ms per request. The
    exports that answer with a job are asked as the pages ask (Prefer: respond-async): that answer is
    what a user waits for (they find the job built_in_background made, done: fresh for 5 minutes)."""
    timings: dict[str, list[float]] = {p: [] for p in [*paths, "/healthz"]}

    def ask(path: str) -> float:
        t0 = time.perf_counter()
        http.get(path, headers=ASYNC if path.startswith(JOB_EXPORTS) else None).raise_for_status()
        return (time.perf_counter() - t0) * 1000

    for path in timings:
        print(f"first {ask(path):8.1f} ms {path}", file=sys.stderr)
    for _ in range(rounds):
        for path in timings:
            timings[path].append(ask(path))
    return timings


def log_in(http: httpx.Client, username: str) -> httpx.Client:
    token = http.post("/api/session", json={"username": username, "password": PASSWORD}).json()["token"]
    return httpx.Client(base_url=http.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120)


def _shown(path: str) -> str:
    return f"`{path.split('?')[0]}`{' ?' + path.split('?', 1)[1] if '?' in path else ''}"


def write_paths(by_user: dict[str, dict[str, list[float]]], jobs: dict[str, tuple[dict[str, float], dict[str, float]]],
                what: str) -> None:
    """Every path's p95 for both users, slowest first, and the exports built in the background, in
    bench/dashboard_paths.md."""
    p95 = {user: {p: percentile(ts, 95) for p, ts in timings.items()} for user, timings in by_user.items()}
    lines = [f"# bench_dashboard: p95 of every path ({what})", "",
             "Written by `python -m bench.run --only dashboard`; the figures are in README.md. The cases, figures",
             "and report exports are asked as the pages ask (`Prefer: respond-async`): the answer is the job,",
             "found built (the table below it: starting each job, and its file ready in the background).", "",
             "| path | the province's admin | a county's admin |", "|---|---:|---:|"]
    for path in sorted(p95["bench"], key=lambda p: -p95["bench"][p]):
        lines.append(f"| {_shown(path)} | {p95['bench'][path]:,.1f} ms | {p95['county'][path]:,.1f} ms |")
    lines += ["", "Exports built in the background: the request that starts the job; the file ready after", "",
              "| export | the province's admin | a county's admin |", "|---|---:|---:|"]
    for path in jobs["bench"][0]:
        lines.append(f"| {_shown(path)} | {jobs['bench'][0][path]:,.1f} ms; {jobs['bench'][1][path]:,.2f} s "
                     f"| {jobs['county'][0][path]:,.1f} ms; {jobs['county'][1][path]:,.2f} s |")
    (OUT / "dashboard_paths.md").write_text("\n".join(lines) + "\n")


# the run


def run(quick: bool) -> list[Figure]:
    total = 1_000_000 if quick else 10_000_000
    rounds = 5 if quick else 10
    county = COUNTIES[17]  # some_ids's
    figures: list[Figure] = []
    keep = os.environ.get(KEEP, "")
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp, postgres_database(keep) as url:
        store = Store(url)
        filled = _kept_fill(store, total) if keep else None
        if filled is None:
            t0 = time.perf_counter()
            parts = fill(store, total)
            filled_s = time.perf_counter() - t0
            with store.engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_fill (at timestamptz, verdicts bigint, seconds float, "
                                  "moved timestamptz)"))
                conn.execute(text("INSERT INTO bench_fill VALUES (now(), :n, :s, now())"), dict(n=total, s=filled_s))
        else:
            parts, filled_s = {}, filled
        with store.engine.connect() as conn:
            stored = int(conn.execute(text("SELECT count(*) FROM verdicts")).scalar_one())
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
        print(f"filled {stored:,} verdicts in {filled_s:.0f} s ({size}): "
              + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items()), file=sys.stderr)
        Accounts(store.engine).add("county", PASSWORD, Role.ADMIN, region=county)
        ids = some_ids(store)
        day = (datetime.now(CentralSettings().zone).date() - timedelta(days=3)).isoformat()
        paths = asks(store, day, ids)
        with Broker(Path(tmp) / "broker") as broker:
            central = CentralService(Path(tmp) / "central", broker.port, [], url=url)
            try:
                load_before = os.getloadavg()[0]
                by_user: dict[str, dict[str, list[float]]] = {}
                jobs: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
                for user in ("bench", "county"):
                    with log_in(central.http, user) as http:
                        started, ready, job = built_in_background(http, paths)
                        jobs[user] = started, ready
                        timed = time_paths(http, [p.replace("{job}", job) for p in paths], rounds)
                        by_user[user] = {p.replace(job, "{job}"): ts for p, ts in timed.items()}  # both users
                load_after = os.getloadavg()[0]
            finally:
                central.close()
        store.dispose()
    write_paths(by_user, jobs, f"{stored:,} verdicts, {BOXES:,} boxes, load average {load_before:.1f}–{load_after:.1f}")
    for user, label in (("bench", "the province's admin"), ("county", "a county's admin (1 of 100)")):
        timings = by_user[user]
        health = percentile(timings.pop("/healthz"), 95)
        per_path = {p: percentile(ts, 95) for p, ts in timings.items()}
        for kind, group in (("page or API read", {p: v for p, v in per_path.items() if "/exports/" not in p}),
                            ("export (XLSX or CSV)", {p: v for p, v in per_path.items() if "/exports/" in p})):
            path, worst = max(group.items(), key=lambda kv: kv[1])
            over = sum(1 for v in group.values() if v >= 200)
            figures.append(Figure(
                bench="dashboard", name=f"slowest {kind} p95 of {len(group)} ({over} at 200 ms or more), "
                f"{stored:,} verdicts, {BOXES:,} boxes, PostgreSQL, {label}: {path} (load average {load_before:.1f}"
                f"–{load_after:.1f}; filled in {filled_s:.0f} s, {size})",
                value=round(worst, 1), unit="ms", baseline_name="GET /healthz p95, same server",
                baseline=round(health, 1), higher_is_better=False, target="every path p95 < 200 ms", met=over == 0))
        started, ready = jobs[user]
        path = max(started, key=lambda p: started[p])
        figures.append(Figure(
            bench="dashboard", name=f"starting an export built in the background (the answer a user waits for; "
            f"slowest of {len(started)}), {stored:,} verdicts, PostgreSQL, {label}: {path}",
            value=round(started[path], 1), unit="ms", baseline_name="GET /healthz p95, same server",
            baseline=round(health, 1), higher_is_better=False, target="< 200 ms", met=started[path] < 200))
        path = max(ready, key=lambda p: ready[p])
        figures.append(Figure(
            bench="dashboard", name=f"an export's file ready in the background (slowest of {len(ready)}), {label}: "
            f"{path}", value=round(ready[path], 2), unit="s", baseline_name="the fastest of them",
            baseline=round(min(ready.values()), 2), higher_is_better=False))
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        print(f"{f.name}: {f.value} {f.unit} (baseline {f.baseline_name}: {f.baseline}; target {f.target}: "
              f"{'met' if f.met else 'NOT met'})")
