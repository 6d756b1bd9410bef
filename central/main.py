"""Entry point of `checkpoint central`: migrate, then side by side the collector, the webhook
sender, the retention job and the web server. Every part may run in several replicas at once."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import uvicorn

from central import retention
from central.config import CentralSettings
from central.ingest import Collector
from central.store import Store
from central.web import create_app
from central.webhooks import AlertSender
from checkpoint import logs, sdnotify, settings

log = logging.getLogger(__name__)


def open_store(central_settings: CentralSettings) -> Store:
    return Store(
        central_settings.database_url,
        zone=central_settings.zone,
        alert_urls=[str(u) for u in central_settings.webhooks.urls],
    )


def main(config: Path | None) -> None:
    central_settings = settings.load(CentralSettings, config)
    logs.setup(component=f"central:{central_settings.ingest.client_id}")
    store = open_store(central_settings)
    store.migrate()
    stop = threading.Event()
    collector = Collector(central_settings, store)
    sender = AlertSender(store.engine, central_settings.webhooks, central_settings.http.public_url)
    workers = [
        threading.Thread(target=collector.run, args=(stop,), name="ingest"),
        threading.Thread(target=sender.run, args=(stop,), name="webhooks"),
        threading.Thread(target=retention.run, args=(store.engine, central_settings.retention, stop), name="retention"),
    ]
    for worker in workers:
        worker.start()
    http = central_settings.http
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(central_settings, store, collector.subscribed.is_set),
            host=http.host,
            port=http.port,
            log_config=None,
            timeout_graceful_shutdown=3,  # live-feed connections never end by themselves
        )
    )
    # uvicorn installs its own SIGINT/SIGTERM handlers in run(); both end here
    server.run()
    sdnotify.stopping()
    stop.set()
    for worker in workers:
        worker.join()
    store.dispose()
    log.info("central stopped", extra={"handled_this_run": collector.handled})
