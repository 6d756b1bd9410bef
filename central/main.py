"""Entry point of `checkpoint central`: side by side the collector, the webhook sender, the retention
job, the overdue scan of obligations, the rollout waves and the web server. Every part may run in
several replicas at once.

`ingest.workers: N` runs N collectors on the shared subscription, each with a session of its own: the
first in this process, the others in processes of their own (the collector holds the interpreter
lock while it checks and stores). Lowering N retires the workers above it: each connects once more,
leaves the shared subscription, stores what its session still holds, and ends its session — the
broker queues a shared subscription's messages for an absent member, so a session merely left
behind would strand them until it expired.

The main thread owns the signals and the order of things. It starts the web server first — in a
process of its own (Child), so the office's pages never slow the collector — so /healthz answers
(and systemd hears READY) while the collector still waits for the database; the webhook sender, the
retention job, the overdue scan and the rollouts start once the collector has the schema in place.
SIGTERM or SIGINT stop everything in order and end with "central stopped"; a part that dies by itself stops
central with an error, so systemd restarts it instead of leaving half a service running.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from central import obligations, retention
from central.config import CentralSettings
from central.ingest import Collector, calm_gc, retired_workers, worker_ids, worker_settings
from central.rollouts import Rollouts
from central.sql import storage_error
from central.store import Store
from central.web import create_app
from central.webhooks import AlertSender
from central.writer_state import Health
from common import logs, sdnotify, settings
from common.backoff import Backoff
from common.logs import Trouble

log = logging.getLogger(__name__)


def open_store(central_settings: CentralSettings) -> Store:
    return Store(
        central_settings.database_url,
        zone=central_settings.zone,
        alert_urls=[str(u) for u in central_settings.webhooks.urls],
        deadlines=central_settings.obligations.deadlines_h,
    )


def main(config: Path | None) -> None:
    central_settings = settings.load(CentralSettings, config)
    logs.setup(component=f"central:{central_settings.ingest.client_id}")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its two lines on every start say nothing
    stop = threading.Event()
    signalled: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        signalled.append(signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    store = open_store(central_settings)
    collector = Collector(central_settings, store)
    workers = [threading.Thread(target=collector.run, args=(stop,), name="ingest")]
    if central_settings.webhooks.urls:
        sender = AlertSender(store.engine, central_settings.webhooks, central_settings.http.public_url)
        workers.append(_once_stored(collector, stop, sender.run, "webhooks"))
    workers.append(_once_stored(
        collector, stop, lambda s: retention.run(store.engine, central_settings.retention, s), "retention"
    ))
    workers.append(_once_stored(
        collector, stop, lambda s: obligations.run(store.engine, store.obligations, central_settings.obligations.scan_s,
                                                   s), "overdue"
    ))
    updates = Rollouts(store.engine, central_settings.mqtt, central_settings.downlink_signer)
    workers.append(_once_stored(collector, stop, updates.run, "rollouts"))
    workers.append(_once_stored(collector, stop, lambda s: _retire(central_settings, store, s), "retire"))
    health = SharedHealth()
    web = Child("web", serve_web, config, health)
    collector.on_health = health.put  # at once on each change; and every fifth of a second (_supervise)
    children = [web] + [
        Child(f"ingest worker {n}", serve_collector, config, n) for n in range(2, central_settings.ingest.workers + 1)
    ]
    calm_gc()
    log.info("central starting", extra={"database": store.engine.dialect.name, "port": central_settings.http.port,
                                        "ingest_workers": central_settings.ingest.workers})
    for child in children:
        child.start()
    for worker in workers:
        worker.start()
    failed = _supervise(stop, web, health, collector, children, workers)
    sdnotify.stopping()
    stop.set()
    for child in children:
        child.stop()
    for worker in workers:
        worker.join()
    store.dispose()
    if failed:
        log.error("central stopped: a part of it ended by itself", extra={"part": failed})
        raise SystemExit(1)
    log.info("central stopped", extra={"signal": signalled[0] if signalled else None,
                                       "handled_this_run": collector.handled})


def _once_stored(collector: Collector, stop: threading.Event, run: Callable[[threading.Event], None],
                 name: str) -> threading.Thread:
    """A worker that starts `run(stop)` once the collector has the database's schema in place."""

    def wait_then_run() -> None:
        while not stop.is_set():
            if collector.storage_ready.wait(0.5):
                run(stop)
                return

    return threading.Thread(target=wait_then_run, name=name)


def _retire(central_settings: CentralSettings, store: Store, stop: threading.Event) -> None:
    """Retire the ingest workers above `ingest.workers` that earlier runs left sessions for; then wait
    with the other parts (a part that ends stops central). The database may be away meanwhile: try
    again, with growing delays, until it answers."""
    trouble = Trouble(log, "retiring ingest workers")
    backoff = Backoff(first=0.5, cap=10)
    while not stop.is_set():
        try:
            _retire_known(central_settings, store, stop)
            trouble.ok()
            break
        except SQLAlchemyError as exc:
            trouble.failed(f"storage unavailable: {storage_error(exc)}")
            stop.wait(backoff.next_delay())
    stop.wait()


def _retire_known(central_settings: CentralSettings, store: Store, stop: threading.Event) -> None:
    """One after the other (a worker retired but not yet forgotten is retired again: at once, its session
    being empty)."""
    for client_id in retired_workers(central_settings.ingest, store.collector_ids()):
        if stop.is_set():
            return
        log.info("retiring an ingest worker: storing what its session holds", extra={"worker": client_id})
        retiring = Collector(worker_settings(central_settings, client_id), store, retiring=True)
        retiring.run(stop)
        if retiring.retired:
            store.forget_collector(client_id)
            log.info("ingest worker retired", extra={"worker": client_id, "stored": retiring.handled})


def _supervise(stop: threading.Event, web: Child, health: SharedHealth, collector: Collector, children: list[Child],
               parts: list[threading.Thread]) -> str:
    """Until `stop`: the collector's health to the web server; READY to systemd once the web server
    listens; the name of a part that ended by itself (central then stops), or "" after a signal."""
    told = False
    while not stop.wait(0.2):
        health.put(collector.health())
        if not told and web.said(LISTENING):
            sdnotify.ready("web server listening; collector starting")
            told = True
        for child in children:
            if not child.alive():
                return child.name
        for part in parts:
            if not part.is_alive():
                return part.name
    return ""


class Child:
    """A part of central in a process of its own: the web server, so that no page ever takes the
    collector's CPU or interpreter lock (one person reloading a heavy page used to delay every box's
    receipt), and the ingest workers after the first.

    Started spawned (not forked from a process that holds threads and sockets). It ignores SIGINT and
    SIGTERM (a terminal's Ctrl-C and systemd's stop reach every process of the service): the main
    process stops it, in order, with a word on the pipe, and when the main process is gone its end of
    the pipe closes and the child stops by itself. The web server says "listening" on it.
    """

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=target, args=(*args, child_end), name=f"central {name}", daemon=True)
        self._heard: list[str] = []

    def start(self) -> None:
        self._process.start()

    def said(self, word: str) -> bool:
        """Whether the child has said `word` so far."""
        with contextlib.suppress(EOFError, OSError):
            while self._pipe.poll():
                self._heard.append(self._pipe.recv())
        return word in self._heard

    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._pipe.send(STOP)
        self._process.join(15)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


STOP, LISTENING = "stop", "listening"
# The office's screens yield the CPU to the collectors: when every core is busy (a province's morning
# peak on a small central), the collector, whose delay is every box's receipt, goes first
# (bench/bench_fleet.py's peak). Exports' builder processes inherit it.
WEB_NICE = 10


class SharedHealth:
    """The collector's latest health in shared memory, for /healthz in the web process: written by the
    collector on each change (and by the main thread five times a second), read for each request. A
    slot, not a queue: the writer never waits for the reader, and the reader always gets the newest."""

    SIZE = 16 * 1024

    def __init__(self) -> None:
        self._slot: Any = multiprocessing.get_context("spawn").Array("c", self.SIZE)  # bytes with .raw

    def put(self, health: Health) -> None:
        data = pickle.dumps(health)
        if len(data) + 4 > self.SIZE:
            return
        with self._slot.get_lock():
            self._slot.raw = (struct.pack("<I", len(data)) + data).ljust(self.SIZE, b"\0")

    def get(self) -> Health | None:
        with self._slot.get_lock():
            raw: bytes = self._slot.raw
        (size,) = struct.unpack_from("<I", raw)
        health: Health | None = pickle.loads(raw[4: 4 + size]) if size else None
        return health


def _as_child() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _until_stopped(pipe: Connection, running: Callable[[], bool], tick: Callable[[], None] = lambda: None) -> None:
    """Until the main process says stop or is gone, or `running()` fails; `tick` every fifth of a second."""
    while running():
        tick()
        try:
            if pipe.poll(0.2) and pipe.recv() == STOP:
                return
        except (EOFError, OSError):  # the main process is gone
            return


def serve_web(config: Path | None, health: SharedHealth, pipe: Connection) -> None:
    """The web process: the office's pages and API, /healthz from the collector's `health`."""
    _as_child()
    os.nice(WEB_NICE)
    central_settings = settings.load(CentralSettings, config)
    logs.setup(component=f"central-web:{central_settings.ingest.client_id}")
    store = open_store(central_settings)
    http = central_settings.http
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(central_settings, store, health.get),
            host=http.host,
            port=http.port,
            log_config=None,
            timeout_graceful_shutdown=3,  # live-feed connections never end by themselves
        )
    )
    # The same cycle-collector tuning as ingest's: a province's page reads tens of thousands of rows that
    # form no cycles, and at the default thresholds collecting took a third of such a request (30-40 ms of
    # /devices' 80-110 ms at 10,000 boxes, and the slow tail: bench/bench_dashboard.py).
    calm_gc()
    # In a thread, uvicorn installs no signal handlers (its own re-raise the signal after shutdown).
    thread = threading.Thread(target=server.run, name="web")
    thread.start()
    told = [False]

    def tell_when_listening() -> None:
        if server.started and not told[0]:
            pipe.send(LISTENING)
            told[0] = True

    _until_stopped(pipe, thread.is_alive, tell_when_listening)
    server.should_exit = True
    thread.join()
    store.dispose()
    if not server.started:
        raise SystemExit(1)


def serve_collector(config: Path | None, worker: int, pipe: Connection) -> None:
    """An ingest worker after the first: a collector with a session of its own on the shared subscription."""
    _as_child()
    central_settings = settings.load(CentralSettings, config)
    client_id = worker_ids(central_settings.ingest)[worker - 1]
    logs.setup(component=f"central:{client_id}")
    store = open_store(central_settings)
    collector = Collector(worker_settings(central_settings, client_id), store)
    calm_gc()
    stop = threading.Event()
    thread = threading.Thread(target=collector.run, args=(stop,), name="ingest")
    thread.start()
    _until_stopped(pipe, thread.is_alive)
    stop.set()
    thread.join()
    store.dispose()
