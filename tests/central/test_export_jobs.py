"""Exports built in the background (central.export_jobs, central.web.downloads), over real HTTP on SQLite
and PostgreSQL: the request answers at once with its job, the job's progress streams as lines of JSON,
its file is fetched when ready and only by its owner; the same export asked again is the same job;
a job that fails or whose server stopped says so, and the next request builds anew; old jobs go.

The building is held back where a test needs a job that is still running (its writer waits for the
test's signal), so nothing here depends on how fast the machine is."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text, update

from central import exports
from central.config import ExportSettings
from central.export_jobs import DONE, RUNNING, ExportJobs, Spec
from central.regions import WHOLE
from central.schema import export_jobs
from central.sql import now
from central.store import Store
from tests.central.conftest import Server, add_users, flagged, rows, settings_for
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes
from tests.central.conftest import store as store
from tests.mqtt import wait_until

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def server(store: Store) -> Iterator[Server]:
    """Three flagged travellers (three cases); the default wait (the file in the answer if it is quick);
    jobs built in a thread of the server (the tests hold the writing back or break it)."""
    add_users(store)
    store.write_batch(rows(*(flagged(n, person=30 + n) for n in range(1, 4))))
    with Server(settings_for(None, exports={"process": False}), store) as s:
        yield s


def test_a_job_is_built_in_a_process_of_its_own(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """As deployed: the file is written by `python -m central.export_jobs`, not by the web server (whose
    own writer is broken here)."""
    def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise AssertionError("written in the web server's process")

    monkeypatch.setattr(exports, "to_xlsx", broken)
    add_users(store)
    store.write_batch(rows(*(flagged(n, person=30 + n) for n in range(1, 4))))
    with Server(settings_for(None, exports={}), store) as server:
        viewer = server.login("viewer")
        job = viewer.get("/api/exports/cases.xlsx", headers=ASYNC).json()
        assert _follow(viewer, job)[-1]["state"] == "done"
        sheet = load_workbook(io.BytesIO(viewer.get(job["download"]).content)).active
        assert sheet.max_row == 1 + 3 and sheet["A1"].value == "处置单"


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """XLSX files are written only once the test sets the event."""
    go = threading.Event()
    write = exports.to_xlsx

    def waiting(*args: Any, **kwargs: Any) -> bytes:
        assert go.wait(30)
        return write(*args, **kwargs)

    monkeypatch.setattr(exports, "to_xlsx", waiting)
    yield go
    go.set()


def _follow(client: Any, job: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("GET", job["progress"], params={"follow": "true"}) as answer:
        assert answer.status_code == 200
        return [json.loads(line) for line in answer.iter_lines() if line]


def test_a_job_answers_at_once_and_its_file_follows(server: Server, held: threading.Event) -> None:
    viewer = server.login("viewer")
    started = viewer.get("/api/exports/cases.xlsx", headers=ASYNC)
    assert started.status_code == 202
    job = started.json()
    assert job["state"] == "running" and started.headers["location"] == job["progress"]
    assert job["file"].startswith("cases-0-") and job["file"].endswith(".xlsx")
    assert viewer.get(job["download"]).status_code == 409  # not built yet
    again = viewer.get("/api/exports/cases.xlsx")  # a script, waiting the default wait: still the job
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    other = viewer.get("/api/exports/cases.xlsx?first=2000-01-01&last=2000-01-31")  # another export: another job
    assert other.json()["id"] != job["id"]

    held.set()
    lines = _follow(viewer, job)
    assert lines[-1]["state"] == "done" and lines[-1]["done"] == lines[-1]["total"] == 3
    file = viewer.get(job["download"])
    assert file.status_code == 200 and job["file"] in file.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(file.content)).active
    assert sheet.max_row == 1 + 3  # headers and the three cases
    # asked again once built: the same job's file, straight away; the page's way: the job, done
    assert viewer.get("/api/exports/cases.xlsx").content == file.content
    assert viewer.get("/api/exports/cases.xlsx", headers=ASYNC).json() == {**job, "state": "done", "done": 3,
                                                                           "total": 3}


def test_a_job_is_its_owners_only(server: Server, held: threading.Event) -> None:
    held.set()
    viewer, operator = server.login("viewer"), server.login("operator")
    job = viewer.get("/api/exports/figures.xlsx", headers=ASYNC).json()
    assert _follow(viewer, job)[-1]["state"] == "done"
    assert viewer.get(job["download"]).status_code == 200
    for path in (job["progress"], job["download"], job["progress"] + "?follow=true"):
        assert operator.get(path).status_code == 404
    assert operator.get("/api/exports/figures.xlsx", headers=ASYNC).json()["id"] != job["id"]  # built for them


def test_a_script_that_waits_gets_the_file(server: Server) -> None:
    file = server.login("viewer").get("/api/exports/report.csv", headers={"Prefer": "wait=60"})
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")


def test_a_failed_job_says_why_and_the_next_request_builds_anew(server: Server, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(exports, "to_xlsx", broken)
    viewer = server.login("viewer")
    job = viewer.get("/api/exports/cases.xlsx", headers=ASYNC).json()
    last = _follow(viewer, job)[-1]
    assert last["state"] == "failed" and "disk full" in last["error"]
    assert viewer.get(job["download"]).status_code == 409
    monkeypatch.undo()
    assert viewer.get("/api/exports/cases.xlsx", headers={"Prefer": "wait=60"}).status_code == 200


def test_a_job_whose_server_stopped_fails_and_old_jobs_go(server: Server, store: Store, held: threading.Event
                                                          ) -> None:
    viewer = server.login("viewer")
    job = viewer.get("/api/exports/cases.xlsx", headers=ASYNC).json()
    with store.engine.begin() as conn:  # as if the replica building it had died long ago
        conn.execute(update(export_jobs).where(export_jobs.c.id == job["id"]).values(
            updated_at=now() - timedelta(hours=1), started_at=now() - timedelta(hours=2)))
    stopped = viewer.get(job["progress"]).json()
    assert stopped["state"] == "failed" and "stopped" in stopped["error"]
    held.set()
    fresh = viewer.get("/api/exports/cases.xlsx", headers=ASYNC).json()
    assert fresh["id"] != job["id"]
    with store.engine.connect() as conn:  # started over an hour ago (exports.keep_s): deleted, file and all
        assert conn.execute(select(export_jobs.c.id)).scalars().all() == [fresh["id"]]


def test_the_xlsx_written_directly_reads_back_as_written() -> None:
    """The sheet central writes itself (not openpyxl: 15-20 µs a cell) opens in openpyxl with every
    value as it was: numbers as numbers, text as text (markup characters escaped, control characters
    that XML cannot hold dropped, formulas quoted), empty cells empty, past column Z."""
    headers = ["时间", "人员", *[f"c{n}" for n in range(30)]]
    rows: list[list[exports.Cell]] = [
        ["2026-11-30 08:00:00", "110***********0014", 36.6, 7, None, '<b>"x" & y</b>', "=1+1", "＝SUM(A1)",
         "a\x07b", "\u3000\u3000区划", -3, *range(20)],
    ]
    sheet = load_workbook(io.BytesIO(exports.to_xlsx("cases/0:2026", headers, rows))).active
    assert sheet.title == "cases_0_2026"
    got = [[c.value for c in row] for row in sheet.iter_rows()]
    assert got[0] == headers
    assert got[1][:11] == ["2026-11-30 08:00:00", "110***********0014", 36.6, 7, None, '<b>"x" & y</b>', "'=1+1",
                           "'＝SUM(A1)", "ab", "\u3000\u3000区划", -3]  # a negative number is a number
    assert got[1][11:] == [*range(20), None]  # the 32nd column (AF) is left blank
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_a_builder_that_dies_fails_its_job_and_the_next_gets_another(store: Store) -> None:
    add_users(store)
    with Server(settings_for(None, exports={}), store) as server:
        jobs = server.server.config.app.state.services.exports
        builder = jobs._idle.get_nowait()  # the process started ahead
        builder._process.kill()
        builder._process.wait()
        jobs._idle.put(builder)
        viewer = server.login("viewer")
        job = viewer.get("/api/exports/figures.csv", headers=ASYNC).json()
        last = _follow(viewer, job)[-1]
        assert last["state"] == "failed" and "process ended" in last["error"]
        assert viewer.get("/api/exports/figures.csv", headers={"Prefer": "wait=60"}).status_code == 200


def test_a_job_that_finished_before_the_request_looked_is_answered_as_done(store: Store) -> None:
    """A quick job can finish between `start` and `wait` (a loaded machine: the request's thread ran
    after the job's); the request must then answer the file, not the job as `start` saw it (running)."""
    jobs = ExportJobs(store.engine, "", ExportSettings(process=False))
    try:
        today = now().date()
        spec = Spec(kind="cases", fmt="csv", name="cases", lang="zh", zone="Asia/Shanghai", scope=WHOLE, first=today,
                    last=today)
        job = jobs.start(1, WHOLE.code, spec)
        assert job.state == RUNNING
        wait_until(lambda: jobs.get(job.id, 1, WHOLE.code).state == DONE, what="the job")  # type: ignore[union-attr]
        assert jobs.wait(job, 1, WHOLE.code, 60).state == DONE
    finally:
        jobs.close()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_builder_that_stops_moving_is_ended_and_the_next_job_gets_another(store: Store) -> None:
    """A builder whose query waits on a lock (here the cases table, locked by the test) writes no
    progress; after `stale_s` its job fails and it is ended, and the next export is built (before, the
    jobs after it queued behind it for good)."""
    add_users(store)
    store.write_batch(rows(flagged(1, person=31)))
    with Server(settings_for(None, exports={"stale_s": 2}), store) as server:
        viewer = server.login("viewer")
        with store.engine.connect() as locker:
            locker.execute(text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
            job = viewer.get("/api/exports/cases.csv", headers=ASYNC).json()
            stuck = wait_until(lambda: (j := viewer.get(job["progress"]).json())["state"] != "running" and j,
                               timeout=30, what="the stuck job to fail")
            wait_until(lambda: "stopped moving" in (store_error(store, job["id"]) or ""), timeout=30,
                       what="its builder ended")
            locker.rollback()
        assert stuck["state"] == "failed"
        assert viewer.get("/api/exports/figures.csv", headers={"Prefer": "wait=60"}).status_code == 200


def store_error(store: Store, job_id: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.scalar(select(export_jobs.c.error).where(export_jobs.c.id == job_id))
