"""Entry point of `checkpoint central`: side by side the collector, the webhook sender, the retention
job, the overdue scan of obligations and the web server. Every part may run in several replicas at once.

The main thread owns the signals and the order of things. It starts the web server first, so
/healthz answers (and systemd hears READY) while the collector still waits for the database; the
webhook sender, the retention job and the overdue scan start once the collector has the schema in place. SIGTERM or
SIGINT stop everything in order and end with "central stopped"; a part that dies by itself stops
central with an error, so systemd restarts it instead of leaving half a service running.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from central import obligations, retention
from central.config import CentralSettings
from central.ingest import Collector
from central.store import Store
from central.web import create_app
from central.webhooks import AlertSender
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
    http = central_settings.http
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(central_settings, store, collector.health),
            host=http.host,
            port=http.port,
            log_config=None,
            timeout_graceful_shutdown=3,  # live-feed connections never end by themselves
        )
    )
    # In a thread of its own, uvicorn installs no signal handlers: its own re-raise the signal after
    # its shutdown, which killed central before its own shutdown ran.
    web = threading.Thread(target=server.run, name="web")
    log.info("central starting", extra={"database": store.engine.dialect.name, "port": http.port})
    for worker in [web, *workers]:
        worker.start()
    failed = _supervise(stop, server, [web, *workers])
    sdnotify.stopping()
    stop.set()
    server.should_exit = True
    for worker in [*workers, web]:
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


def _supervise(stop: threading.Event, server: uvicorn.Server, parts: list[threading.Thread]) -> str:
    """Until `stop`: READY to systemd once the web server listens; the name of a part that ended
    by itself (central then stops), or "" after a signal."""
    told = False
    while not stop.wait(0.2):
        if not told and server.started:
            sdnotify.ready("web server listening; collector starting")
            told = True
        for part in parts:
            if not part.is_alive():
                return part.name
    return ""

