"""central.ingest.Collector in a process of its own, as deployed (the agent benchmark's central, and
the replicas of the central benchmark).

    python -m bench.children.collector DATABASE_URL BROKER_PORT CLIENT_ID DOWNLINK_KEY
"""

from __future__ import annotations

import sys
import threading

from bench.children import ready, stdin_closed
from central.config import CentralSettings
from central.ingest import Collector, calm_gc
from central.store import Store


def main(url: str, port: int, client_id: str, downlink_key: str) -> None:
    settings = CentralSettings.model_validate(
        {
            "database_url": url,
            "mqtt": {"host": "127.0.0.1", "port": port},
            "ingest": {"client_id": client_id},
            "downlink_key": downlink_key,
        }
    )
    stop = stdin_closed()
    collector = Collector(settings, Store(url))
    calm_gc()  # as central's processes run
    thread = threading.Thread(target=collector.run, args=(stop,), name="collector")
    thread.start()
    if not collector.subscribed.wait(30):
        stop.set()
        thread.join()
        sys.exit("the collector did not subscribe")
    ready()
    thread.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
