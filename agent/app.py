"""The agent process: wires the outbox, policy, MQTT link, publisher, devices, station and kiosk.

Threads, each with one job: paho's network loop; the publisher (outbox -> broker); one per device
(blocking serial / camera I/O); the station (events -> passages -> verdicts); the kiosk's web
server; optionally a simulation script; and the main thread's metrics tick. `run` returns after
`stop` is set and the outbox has drained (or `drain_timeout_s` passed: what is left stays on disk).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import uvicorn
from pydantic import BaseModel, ValidationError

from agent import clock
from agent.config import AgentSettings
from agent.downlinks import Downlinks
from agent.gate import Gate
from agent.healthcode.chain import build_chain
from agent.kiosk.app import create_app
from agent.kiosk.hub import StateHub
from agent.kiosk.state import KioskState, LinkView
from agent.link import Link
from agent.metrics import AgentMetrics, cpu_temperature_c, disk_free_mb
from agent.outbox import Outbox
from agent.passage import PassageMachine
from agent.publisher import Publisher
from agent.recorder import Recorder
from agent.station import Station, StationFull
from agent.verdicts import Station as Identity
from checkpoint import __version__, sdnotify
from contract import topics
from contract.messages import DeviceState, Metrics, Receipt, Status, Verdict
from drivers.base import Device
from drivers.camera.device import Camera

log = logging.getLogger(__name__)

Script = Callable[[Station, threading.Event], None]


class Agent:
    def __init__(self, settings: AgentSettings, devices: Sequence[Device] = (), script: Script | None = None) -> None:
        self.settings = settings
        self._devices = list(devices)
        self._script = script
        self.downlinks = Downlinks(settings)
        self.metrics = AgentMetrics()
        self.station: Station | None = None
        self.kiosk_port: int | None = None
        self._boot = 0

    # what the box says about itself

    def status(self) -> Status:
        s = self.settings
        return Status(
            site=s.site,
            device=s.device,
            state=DeviceState.ONLINE,
            boot=self._boot,
            device_time=datetime.now(UTC),
            software=__version__,
            config_version=self.downlinks.config_version,
            policy_version=self.downlinks.policy().version,
            policy_rejected=self.downlinks.policy_rejected,
            devices=dict(self.station.devices) if self.station else {},
        )

    def _metrics_message(self, outbox: Outbox) -> Metrics:
        s = self.settings
        return Metrics(
            site=s.site,
            device=s.device,
            device_time=datetime.now(UTC),
            boot=self._boot,
            passages=sum(self.metrics.counts.values()),
            verdicts=dict(self.metrics.counts),
            outbox_depth=outbox.depth(),
            outbox_capacity=outbox.capacity,
            decode_fps=next((d.stats().decode_fps for d in self._devices if isinstance(d, Camera)), None),
            cpu_temp_c=cpu_temperature_c(),
            disk_free_mb=disk_free_mb(s.outbox.path.parent),
        )

    # the process

    def run(self, stop: threading.Event, drain_timeout_s: float = 10.0) -> None:
        s = self.settings
        outbox = Outbox(s.outbox.path, s.outbox.capacity).open(new_boot=True)
        self._boot = outbox.boot
        link = Link(s.mqtt, s.site, s.device, birth=self.status, on_downlink=self._downlink)
        publisher = self._publisher = Publisher(s.outbox.path, link)
        gate = Gate(s.gate) if s.gate else None
        hub = StateHub()
        station = self.station = self._station(outbox, link, publisher, gate, self._on_state(hub, link))
        self.downlinks.on_change = link.publish_birth_if_connected
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(station, hub, s.kiosk.venue_code, self.metrics.registry),
                host=s.kiosk.host,
                port=s.kiosk.port,
                log_config=None,
                access_log=False,
            )
        )
        log.info("agent starting", extra={"site": s.site, "device": s.device, "boot": self._boot})
        link.start()
        publishing, inputs = threading.Event(), threading.Event()
        workers = [threading.Thread(target=server.run, name="kiosk", daemon=True)]
        workers += [
            threading.Thread(target=d.run, args=(self._emit, inputs), name=f"device-{i}")
            for i, d in enumerate(self._devices)
        ]
        if self._script is not None:
            workers.append(threading.Thread(target=self._script, args=(station, inputs), name="simulation"))
        station_thread = threading.Thread(target=station.run, args=(inputs,), name="station")
        publisher_thread = threading.Thread(target=publisher.run, args=(publishing,), name="publisher")
        for t in [publisher_thread, station_thread, *workers]:
            t.start()
        self._wait_for_kiosk(server)
        sdnotify.ready(f"kiosk on port {self.kiosk_port}")
        self._tick(stop, outbox, link, alive=lambda: station_thread.is_alive() and publisher_thread.is_alive())
        sdnotify.stopping()
        inputs.set()  # stop the devices, the simulation and the station
        for t in [station_thread, *workers[1:]]:
            t.join()
        publisher.flush()
        deadline = time.monotonic() + drain_timeout_s
        while outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        publishing.set()
        publisher_thread.join()
        link.stop()
        server.should_exit = True
        if gate is not None:
            gate.close()
        log.info("agent stopped", extra={"left_in_outbox": outbox.depth(), "last_seq": outbox.last_seq})
        outbox.close()

    def _station(
        self,
        outbox: Outbox,
        link: Link,
        publisher: Publisher,
        gate: Gate | None,
        on_state: Callable[[KioskState], None],
    ) -> Station:
        s = self.settings
        identity = Identity(s.site, s.device, s.kind, s.pseudonym_key.value())
        recorder = Recorder(
            identity,
            s.signing_key.value(),
            outbox,
            self.downlinks.policy,
            self.downlinks.lists,
            home_province=s.home_province,
            clock_synced=clock.synchronised,
            committed=publisher.notify,
        )
        chain = build_chain(s.healthcode)

        def link_view() -> LinkView:
            depth = outbox.depth()
            return LinkView(
                online=link.connected.is_set(),
                outbox_depth=depth,
                outbox_capacity=outbox.capacity,
                outbox_warning=depth >= s.outbox.warn_fraction * outbox.capacity,
            )

        def on_verdict(verdict: Verdict) -> None:
            self.metrics.verdict(verdict)
            if gate is not None:
                gate.on_verdict(verdict)

        return Station(
            recorder,
            PassageMachine(s.kind, self.downlinks.policy, s.passage_timeout_s),
            lambda text, colour: chain.verify(text, colour),
            link_view,
            on_state=on_state,
            on_verdict=on_verdict,
            voice=s.kiosk.voice,
        )

    def _on_state(self, hub: StateHub, link: Link) -> Callable[[KioskState], None]:
        health: dict[str, str] = {}

        def on_state(state: KioskState) -> None:
            hub.publish(state)
            devices = state.devices
            if devices != health:  # a device's health changed: tell central in a new birth message
                health.clear()
                health.update(devices)
                self.metrics.devices(devices)
                link.publish_birth_if_connected()

        return on_state

    def _emit(self, event: BaseModel) -> None:
        """What device threads call for every event."""
        assert self.station is not None
        try:
            self.station.submit(event)
        except StationFull:
            log.error("station queue full: a device event was dropped", extra={"event": type(event).__name__})

    def _wait_for_kiosk(self, server: uvicorn.Server, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.started and server.servers:
            self.kiosk_port = server.servers[0].sockets[0].getsockname()[1]
            log.info("kiosk ready", extra={"url": f"http://{self.settings.kiosk.host}:{self.kiosk_port}/"})

    def _tick(self, stop: threading.Event, outbox: Outbox, link: Link, alive: Callable[[], bool]) -> None:
        """Until `stop`: refresh gauges each second, send the metrics message every interval, and tell
        systemd's watchdog we are alive only while the station and the publisher are."""
        last_sent = time.monotonic()
        while not stop.wait(1.0):
            if alive():
                sdnotify.watchdog()
            self.metrics.outbox_depth.set(outbox.depth())
            self.metrics.connected.set(1 if link.connected.is_set() else 0)
            interval = self.downlinks.metrics_interval_s or self.settings.metrics_interval_s
            if link.connected.is_set() and time.monotonic() - last_sent >= interval:
                message = self._metrics_message(outbox)
                self.metrics.disk_free.set((message.disk_free_mb or 0) * 1e6)
                if message.cpu_temp_c is not None:
                    self.metrics.cpu_temp.set(message.cpu_temp_c)
                link.publish(link.topic("metrics"), message.model_dump_json())
                last_sent = time.monotonic()

    def _downlink(self, topic: str, payload: bytes) -> None:
        if topics.parse_downlink(topic) != "receipt":
            self.downlinks.receive(topic, payload)
            return
        try:
            self._publisher.receipt(Receipt.model_validate_json(payload))
        except ValidationError as exc:
            log.error("ignoring a malformed receipt", extra={"error": str(exc)[:300]})
