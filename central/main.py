"""Entry point of `checkpoint central`: side by side the collector, the webhook sender, the retention
job, the overdue scan of obligations and the web server. Every part may run in several replicas at once.

The main thread owns the signals and the order of things. It starts the web server first — in a
process of its own (WebProcess), so the office's pages never slow the collector — so /healthz
answers (and systemd hears READY) while the collector still waits for the database; the
webhook sender, the retention job and the overdue scan start once the collector has the schema in place. SIGTERM or
SIGINT stop everything in order and end with "central stopped"; a part that dies by itself stops
central with an error, so systemd restarts it instead of leaving half a service running.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import uvicorn

from central import obligations, retention
from central.config import CentralSettings
from central.ingest import Collector
from central.rollouts import Rollouts
from central.store import Store
from central.web import create_app
from central.webhooks import AlertSender
from central.writer_state import Health
from common import logs, sdnotify, settings

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
    web = WebProcess(config)
    log.info("central starting", extra={"database": store.engine.dialect.name, "port": central_settings.http.port})
    web.start()
    for worker in workers:
        worker.start()
    failed = _supervise(stop, web, collector, workers)
    sdnotify.stopping()
    stop.set()
    web.stop()
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


def _supervise(stop: threading.Event, web: WebProcess, collector: Collector, parts: list[threading.Thread]) -> str:
    """Until `stop`: the collector's health to the web server; READY to systemd once the web server
    listens; the name of a part that ended by itself (central then stops), or "" after a signal."""
    told = False
    while not stop.wait(0.2):
        web.tell(collector.health())
        if not told and web.listening():
            sdnotify.ready("web server listening; collector starting")
            told = True
        if not web.alive():
            return "web"
        for part in parts:
            if not part.is_alive():
                return part.name
    return ""


class WebProcess:
    """The office's web server in a process of its own, so that no page ever takes the collector's
    CPU or interpreter lock (one person reloading a heavy page used to delay every box's receipt).

    It is started first, so /healthz answers while the collector still waits for its database. The
    collector's health reaches it over a pipe — sent every fifth of a second from the main thread — and
    /healthz answers from it as before. The web process ignores SIGINT and SIGTERM (a terminal's Ctrl-C
    and systemd's stop reach every process of the service): the main process stops it, in order, by a
    word on the pipe, and when the main process is gone its end of the pipe closes and the web server
    stops by itself.
    """

    def __init__(self, config: Path | None) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads and sockets
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=serve_web, args=(config, child_end), name="central-web", daemon=True)
        self._listening = False

    def start(self) -> None:
        self._process.start()

    def tell(self, health: Health | None) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._pipe.send(health)

    def listening(self) -> bool:
        with contextlib.suppress(EOFError, OSError):
            while self._pipe.poll():
                self._listening = self._pipe.recv() == "listening" or self._listening
        return self._listening

    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._pipe.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def serve_web(config: Path | None, pipe: Connection) -> None:
    """The web process: the office's pages and API, with the collector's health from `pipe`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    central_settings = settings.load(CentralSettings, config)
    logs.setup(component=f"central-web:{central_settings.ingest.client_id}")
    store = open_store(central_settings)
    latest: list[Health | None] = [None]
    http = central_settings.http
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(central_settings, store, lambda: latest[0]),
            host=http.host,
            port=http.port,
            log_config=None,
            timeout_graceful_shutdown=3,  # live-feed connections never end by themselves
        )
    )
    # In a thread, uvicorn installs no signal handlers (its own re-raise the signal after shutdown).
    thread = threading.Thread(target=server.run, name="web")
    thread.start()
    told = False
    while thread.is_alive():
        if not told and server.started:
            pipe.send("listening")
            told = True
        try:
            if not pipe.poll(0.2):
                continue
            message = pipe.recv()
        except (EOFError, OSError):  # the main process is gone
            break
        if message == "stop":
            break
        latest[0] = message
    server.should_exit = True
    thread.join()
    store.dispose()
    if not server.started:
        raise SystemExit(1)
