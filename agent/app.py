"""The agent process: wires the outbox, the policy, the MQTT link, the publisher and the station.

Threads, each with one job: paho's network loop, the publisher (outbox -> broker), the station
(passages -> recorder), and the metrics tick. `run` returns after `stop` is set and the outbox has
drained (or `drain_timeout_s` passed: what is left stays on disk for the next start).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from agent import clock
from agent.config import AgentSettings
from agent.downlinks import Downlinks
from agent.link import Link
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.recorder import Recorder
from agent.verdicts import Station
from checkpoint import __version__
from contract import topics
from contract.messages import Decision, DeviceState, Metrics, Receipt, Status

log = logging.getLogger(__name__)

StationLoop = Callable[[Recorder, threading.Event], None]


class Agent:
    def __init__(self, settings: AgentSettings, station_loop: StationLoop) -> None:
        self.settings = settings
        self._station_loop = station_loop
        self.downlinks = Downlinks(settings)
        self.device_health: dict[str, str] = {}

    def status(self) -> Status:
        s = self.settings
        return Status(
            site=s.site,
            device=s.device,
            state=DeviceState.ONLINE,
            boot=self._boot,
            device_time=datetime.now(UTC),
            software=__version__,
            policy_version=self.downlinks.policy().version,
            policy_rejected=self.downlinks.policy_rejected,
            devices=dict(self.device_health),
        )

    def run(self, stop: threading.Event, drain_timeout_s: float = 10.0) -> None:
        s = self.settings
        outbox = Outbox(s.outbox.path, s.outbox.capacity).open(new_boot=True)
        self._boot = outbox.boot
        link = Link(s.mqtt, s.site, s.device, birth=self.status, on_downlink=self._downlink)
        self.downlinks.on_change = link.publish_birth_if_connected
        publisher = self._publisher = Publisher(s.outbox.path, link)
        station = Station(s.site, s.device, s.kind, s.pseudonym_key.value())
        recorder = Recorder(
            station,
            s.signing_key.value(),
            outbox,
            self.downlinks.policy,
            self.downlinks.lists,
            home_province=s.home_province,
            clock_synced=clock.synchronised,
            committed=publisher.notify,
        )
        log.info("agent starting", extra={"site": s.site, "device": s.device, "boot": self._boot})
        link.start()
        publishing = threading.Event()
        threads = [
            threading.Thread(target=publisher.run, args=(publishing,), name="publisher"),
            threading.Thread(target=self._station_loop, args=(recorder, stop), name="station"),
        ]
        for t in threads:
            t.start()
        while not stop.wait(self.downlinks.metrics_interval_s or s.metrics_interval_s):
            if link.connected.is_set():
                link.publish(link.topic("metrics"), self._metrics(outbox, recorder).model_dump_json())
        threads[1].join()
        publisher.flush()
        deadline = time.monotonic() + drain_timeout_s
        while outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        publishing.set()
        threads[0].join()
        link.stop()
        log.info("agent stopped", extra={"left_in_outbox": outbox.depth(), "last_seq": outbox.last_seq})
        outbox.close()

    def _downlink(self, topic: str, payload: bytes) -> None:
        if topics.parse_downlink(topic) != "receipt":
            self.downlinks.receive(topic, payload)
            return
        try:
            self._publisher.receipt(Receipt.model_validate_json(payload))
        except ValidationError as exc:
            log.error("ignoring a malformed receipt", extra={"error": str(exc)[:300]})

    def _metrics(self, outbox: Outbox, recorder: Recorder) -> Metrics:
        s = self.settings
        return Metrics(
            site=s.site,
            device=s.device,
            device_time=datetime.now(UTC),
            boot=self._boot,
            passages=sum(recorder.counts.values()),
            verdicts={Decision(k): v for k, v in recorder.counts.items()},
            outbox_depth=outbox.depth(),
            outbox_capacity=outbox.capacity,
            disk_free_mb=shutil.disk_usage(s.outbox.path.parent).free / 1e6,
        )
