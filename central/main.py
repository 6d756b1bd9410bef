"""Entry point of `checkpoint central`: migrate, then the collector and the web server side by side."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import uvicorn

from central.config import CentralSettings
from central.ingest import Collector
from central.store import Store
from central.web import create_app
from checkpoint import logs, settings

log = logging.getLogger(__name__)


def main(config: Path | None) -> None:
    central_settings = settings.load(CentralSettings, config)
    logs.setup(component=f"central:{central_settings.ingest.client_id}")
    store = Store(central_settings.database_url)
    store.migrate()
    stop = threading.Event()
    collector = Collector(central_settings, store)
    ingest = threading.Thread(target=collector.run, args=(stop,), name="ingest")
    ingest.start()
    http = central_settings.http
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, collector.subscribed.is_set), host=http.host, port=http.port, log_config=None)
    )
    # uvicorn installs its own SIGINT/SIGTERM handlers in run(); both end here
    server.run()
    stop.set()
    ingest.join()
    store.dispose()
    log.info("central stopped", extra={"handled_this_run": collector.handled})
