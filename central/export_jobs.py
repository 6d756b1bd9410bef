"""Exports too large to write while the user waits (a province's cases, figures, daily report: seconds
at ten million verdicts): built in the background, downloaded when ready.

A job is a row of export_jobs: whose it is (the user's id and their area when it started: it is never
handed to anyone else, nor to its owner once their area changed), what it builds (a key naming the
export, its format, parameters and language), how far it is (rows written of the total) and, once
done, the file. The file is kept in the database, not on one web server's disk, so that any replica
behind the office's load balancer answers the progress and the download. The same export asked again
while it runs, or within `fresh_s` of being done, is that job, not another.

A job is built in a process apart (a Builder: `python -m central.export_jobs`, started ahead and kept,
told each job's database and Spec on its standard input), handed it by a small thread pool of the web
process that took the request: writing a province's file holds Python's lock for seconds, and in the
web process itself that tripled the pages' times meanwhile (10,000 boxes' /devices?state=problems 87
-> 242 ms median, 825 ms at worst, while 100,000 cases were written; in a process apart 100 -> 116 ms,
225 ms at worst, on 2 cores). `exports.process: false` builds in the thread instead. A job whose
builder died is failed at once; one whose builder stops moving (a query waiting on a lock) is failed
after `stale_s` and its builder ended, so the jobs after it get another; one whose web server died
stops moving and counts as failed after `stale_s`. Jobs started more than `keep_s` ago are deleted,
files and all, whenever a job starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from select import select as readable
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, and_, delete, or_, select, update

from central import exports, queries, report
from central.config import ExportSettings
from central.regions import Scope
from central.schema import export_jobs
from central.sql import aware, now
from central.store import make_engine
from common import logs

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # how often a running job writes its progress down
CLOSE_WAIT_S = 10  # for a builder process to end when its web server does
WATCH_EVERY_S = 1.0  # how often a job's builder is looked at while it builds
RUNNING, DONE, FAILED = "running", "done", "failed"
_SHOWN = [c for c in export_jobs.c if c.name != "body"]


class Spec(BaseModel):
    """What an export builds, read again wherever the job runs: the figures or the cases of the days
    `first` to `last`, or the report of `day`, in the scope, format and language asked."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["figures", "cases", "report"]
    fmt: Literal["csv", "xlsx"]
    name: str  # the file's, without the format
    lang: str
    zone: str
    scope: Scope
    first: date | None = None
    last: date | None = None
    day: date | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.fmt}:{self.first}:{self.last}:{self.day}:{self.lang}"


def build(engine: Engine, spec: Spec, progress: exports.Progress) -> bytes:
    """The export's file."""
    lang, zone, scope = spec.lang, ZoneInfo(spec.zone), spec.scope
    if spec.kind == "figures":
        assert spec.first and spec.last
        table = exports.table(lang, exports.figure_columns(lang), queries.daily(engine, spec.first, spec.last, scope))
    elif spec.kind == "cases":
        assert spec.first and spec.last
        start, _end = queries.day_bounds(spec.first, zone)
        _start, end = queries.day_bounds(spec.last, zone)
        table = exports.table(lang, exports.case_columns(lang, zone), queries.cases_between(engine, start, end, scope))
    else:
        assert spec.day
        with engine.connect() as conn:
            table = exports.table(lang, report.columns(), report.rows(report.daily(conn, scope, spec.day, zone)))
    if spec.fmt == "csv":
        return exports.to_csv(*table, progress=progress)
    return exports.to_xlsx(spec.name, *table, progress=progress)


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    done: int
    total: int
    name: str
    fmt: str
    error: str | None

    def document(self) -> dict[str, Any]:
        """The job as the API shows it, with where to follow it and where to fetch its file."""
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "file": f"{self.name}.{self.fmt}", "error": self.error,
                "progress": f"/api/exports/jobs/{self.id}", "download": f"/api/exports/jobs/{self.id}/file"}


class ExportJobs:
    def __init__(self, engine: Engine, url: str, settings: ExportSettings) -> None:
        self.engine = engine
        self.url = url  # for the jobs' processes
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="export")
        self._finished: dict[str, threading.Event] = {}  # this process's jobs still running
        self._idle: queue.SimpleQueue[Builder] = queue.SimpleQueue()  # builder processes waiting for a job
        if settings.process:
            self._idle.put(Builder())

    def start(self, owner: int, area: str, spec: Spec) -> Job:
        """The owner's running or fresh job for `spec` in `area`; else a new one, started."""
        at = now()
        with self.engine.begin() as conn:
            kept = at - timedelta(seconds=self.settings.keep_s)
            conn.execute(delete(export_jobs).where(export_jobs.c.started_at < kept))
            alive = or_(and_(export_jobs.c.state == RUNNING, export_jobs.c.updated_at >= self._stale_before()),
                        and_(export_jobs.c.state == DONE,
                             export_jobs.c.updated_at >= at - timedelta(seconds=self.settings.fresh_s)))
            found = conn.execute(select(*_SHOWN).where(
                export_jobs.c.owner == owner, export_jobs.c.key == spec.key, export_jobs.c.area == area, alive
            ).order_by(export_jobs.c.started_at.desc()).limit(1)).first()
            if found is not None:
                return self._job(found._mapping)
            job_id = str(uuid.uuid4())
            conn.execute(export_jobs.insert().values(
                id=job_id, owner=owner, area=area, key=spec.key, name=spec.name, fmt=spec.fmt, state=RUNNING, done=0,
                total=0, started_at=at, updated_at=at))
        finished = self._finished[job_id] = threading.Event()
        self._pool.submit(self._run, job_id, spec, finished)
        log.info("export started", extra={"job": job_id, "key": spec.key, "owner": owner, "area": area})
        return Job(job_id, RUNNING, 0, 0, spec.name, spec.fmt, None)

    def wait(self, job: Job, owner: int, area: str, seconds: float) -> Job:
        """The job once done, or as it is after `seconds` (at once for one that another process builds).
        Read again in any case: a quick job may have finished before this looked (then `start`'s
        "running" is stale: a loaded machine answered a small export with its job instead of its file)."""
        if job.state != RUNNING or not seconds:
            return job
        finished = self._finished.get(job.id)
        if finished is not None:
            finished.wait(seconds)
        return self.get(job.id, owner, area) or job

    def get(self, job_id: str, owner: int, area: str) -> Job | None:
        """The owner's job in `area`; None for anyone else's, or one deleted."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*_SHOWN).where(export_jobs.c.id == job_id, export_jobs.c.owner == owner,
                                                     export_jobs.c.area == area)).first()
        return self._job(row._mapping) if row is not None else None

    def file(self, job_id: str, owner: int, area: str) -> bytes | None:
        """The finished file of the owner's job in `area`; None while it runs, or for anyone else."""
        with self.engine.connect() as conn:
            return conn.execute(select(export_jobs.c.body).where(
                export_jobs.c.id == job_id, export_jobs.c.owner == owner, export_jobs.c.area == area,
                export_jobs.c.state == DONE)).scalar()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        while not self._idle.empty():
            self._idle.get_nowait().close()

    def _job(self, row: Any) -> Job:
        state, error = row["state"], row["error"]
        if state == RUNNING and aware(row["updated_at"]) < self._stale_before():
            state, error = FAILED, "the server building it stopped: ask again"
        return Job(row["id"], state, row["done"], row["total"], row["name"], row["fmt"], error)

    def _run(self, job_id: str, spec: Spec, finished: threading.Event) -> None:
        try:
            if not self.settings.process:
                build_job(self.engine, job_id, spec)
                return
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = Builder()
            why = worker.build(self.url, job_id, spec, lambda: self._moving(job_id))
            if why is None:
                self._idle.put(worker)
                return
            log.error("export process failed", extra={"job": job_id, "reason": why})  # it could not say so itself
            with self.engine.begin() as conn:
                conn.execute(update(export_jobs).where(export_jobs.c.id == job_id, export_jobs.c.state == RUNNING)
                             .values(state=FAILED, updated_at=now(), error=f"the export's {why}"))
        finally:
            self._finished.pop(job_id, None)
            finished.set()

    def _moving(self, job_id: str) -> bool:
        """The job has written its progress down within `stale_s` (a builder that has not is hung)."""
        with self.engine.connect() as conn:
            at = conn.scalar(select(export_jobs.c.updated_at).where(export_jobs.c.id == job_id))
        return at is not None and aware(at) >= self._stale_before()

    def _stale_before(self) -> datetime:
        """A running job that has written nothing down since this time has stopped moving."""
        return now() - timedelta(seconds=self.settings.stale_s)


class Builder:
    """A process that builds export jobs (`python -m central.export_jobs`), one at a time, for as long as
    its parent keeps it: started ahead, so a county's small file is not kept waiting for Python to start
    and import central. Its log lines go where its parent's go; it ends when its parent does (its
    standard input closes)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", "central.export_jobs"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)

    def build(self, url: str, job_id: str, spec: Spec, moving: Callable[[], bool]) -> str | None:
        """Have the job built; None once it is (done or failed, as it wrote down), else why its process
        could not: it died at the job, or it stopped moving (`moving()` false: a query that waits on a
        lock, a hung connection), and is ended so that the jobs after it get a builder."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        why = "process ended"
        try:
            stdin.write(json.dumps({"url": url, "job": job_id, "spec": spec.model_dump(mode="json")}).encode() + b"\n")
            stdin.flush()
            while not readable([stdout], [], [], WATCH_EVERY_S)[0]:
                if not moving():
                    why = "process stopped moving"
                    break
            else:
                if stdout.readline().strip() == job_id.encode():
                    return None
        except OSError:
            pass
        self._process.kill()
        self.close()
        return f"{why} ({self._process.returncode})"

    def close(self) -> None:
        """End it (after the job it may be building)."""
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):  # a pipe already broken
                self._process.stdin.close()
        try:
            self._process.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def build_job(engine: Engine, job_id: str, spec: Spec) -> None:
    """Build the job's file, writing its progress down as it goes, then the file (or why it failed)."""
    started = time.monotonic()
    said = [started]
    rows = [0]
    where = export_jobs.c.id == job_id

    def progress(done: int, total: int) -> None:
        rows[0] = total
        if time.monotonic() - said[0] >= PROGRESS_EVERY_S:
            said[0] = time.monotonic()
            with engine.begin() as conn:
                conn.execute(update(export_jobs).where(where).values(done=done, total=total, updated_at=now()))

    try:
        body = build(engine, spec, progress)
        with engine.begin() as conn:
            conn.execute(update(export_jobs).where(where).values(state=DONE, body=body, updated_at=now(),
                                                                 done=rows[0], total=rows[0]))
        log.info("export built", extra={"job": job_id, "bytes": len(body),
                                        "seconds": round(time.monotonic() - started, 2)})
    except Exception as exc:  # noqa: BLE001 - said to the user, logged with its trace
        log.exception("export failed", extra={"job": job_id})
        with engine.begin() as conn:
            conn.execute(update(export_jobs).where(where).values(
                state=FAILED, error=f"{type(exc).__name__}: {exc}"[:300], updated_at=now()))


def main() -> None:
    """`python -m central.export_jobs`: build the jobs told, one line of JSON each ({"url", "job", "spec"})
    on stdin, answering each job's id on stdout once it is built (or failed), until stdin closes."""
    logs.setup(component="central-export")
    engines: dict[str, Engine] = {}
    for line in sys.stdin.buffer:
        order = json.loads(line)
        if order["url"] not in engines:
            engines[order["url"]] = make_engine(order["url"])
        build_job(engines[order["url"]], order["job"], Spec.model_validate(order["spec"]))
        sys.stdout.write(order["job"] + "\n")
        sys.stdout.flush()
    for engine in engines.values():
        engine.dispose()


if __name__ == "__main__":
    main()
