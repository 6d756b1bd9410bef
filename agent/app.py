"""The agent process: wires the outbox, policy, MQTT link, publisher, devices, station and kiosk.

Threads, each with one job: paho's network loop; the publisher (outbox -> broker); one per device
(blocking serial / camera I/O); the station (events -> passages -> verdicts); the kiosk's web
server; the answers to central's diagnostics requests (agent.diagnostics); optionally a simulation
script; and the main thread's metrics tick. `run` returns after `stop` is set and the outbox has
drained (or `drain_timeout_s` passed: what is left stays on disk).

No thread dies quietly: if any of them ends with an exception, or the outbox file disappears
under the running agent, the agent logs why, stops in order and `run` raises AgentFailed, so the
process exits non-zero and systemd starts it again. A box that keeps showing verdicts while its
publisher or watchdog is dead is worse than one that restarts.

`main` is what `checkpoint agent` runs: settings, logging, signals, the devices (real, or the
simulated station's), then `Agent.run`.
"""

from __future__ import annotations

import functools
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from pydantic import BaseModel

from agent import diagnostics, direct_station, doctor, metrics
from agent.config import AgentSettings, load
from agent.downlinks import Downlinks
from agent.gate import Gate
from agent.healthcode.chain import build_chain
from agent.kiosk.app import create_app
from agent.kiosk.hub import StateHub
from agent.kiosk.state import KioskState, LinkView
from agent.link import Link, Publisher
from agent.metrics import AgentMetrics, CpuUse, cpu_temperature_c, disk_free_mb
from agent.outbox import LifeRecord, Outbox, OutboxGone
from agent.passage import BoxIdentity, PassageMachine
from agent.station import Recorder, Station, StationFull
from agent.update import Progress, Updater, UpdateReport, self_test_decode
from common import __version__, logs, sdnotify
from contract.messages import (
    LOG_LINES_MAX,
    DeviceState,
    DiagnosticsRequest,
    IdentityConflict,
    LostLife,
    Metrics,
    Status,
    Verdict,
)
from drivers.base import Device, HealthState
from drivers.camera.device import Camera

log = logging.getLogger(__name__)

Script = Callable[[Station, threading.Event], None]


class AgentFailed(Exception):
    """A part of the agent died; the message says which and why. The agent has stopped in order."""


class Agent:
    """One box. `devices` and `script` feed its station; `link_class` makes its MQTT link (a subclass of
    Link can observe the session: the benchmark times CONNACKs and PUBACKs that way; the default for
    everyone else)."""

    def __init__(
        self,
        settings: AgentSettings,
        devices: Sequence[Device] = (),
        script: Script | None = None,
        *,
        link_class: type[Link] = Link,
    ) -> None:
        self.settings = settings
        self._devices = list(devices)
        self._script = script
        self._link_class = link_class
        self.downlinks = Downlinks(settings)
        self.metrics = AgentMetrics()
        self.station: Station | None = None
        self.kiosk_port: int | None = None
        self._outbox: Outbox | None = None
        self._lives = LifeRecord(settings.state_dir / "life.json")
        self._link: Link | None = None
        self._twin_told: str | None = None  # the life of another box with this identity, once logged
        self._failed: str | None = None
        self._stop = threading.Event()
        self._cpu = CpuUse()
        self._log_tail = logs.Tail(LOG_LINES_MAX)  # what a diagnostics answer sends of the log
        self._requests: queue.SimpleQueue[DiagnosticsRequest] = queue.SimpleQueue()
        self.updater: Updater | None = None

    # what the box says about itself

    def status(self) -> Status:
        s, outbox = self.settings, self._outbox
        update = self.updater.report if self.updater else UpdateReport()
        return Status(
            site=s.site,
            device=s.device,
            state=DeviceState.ONLINE,
            epoch=outbox.epoch if outbox else None,
            boot=outbox.boot if outbox else 0,
            last_seq=outbox.last_seq if outbox else 0,
            device_time=datetime.now(UTC),
            software=__version__,
            config_version=self.downlinks.config_version,
            policy_version=self.downlinks.policy().version,
            policy_rejected=self.downlinks.policy_rejected,
            devices=dict(self.station.devices) if self.station else {},
            lost_lives=[LostLife.model_validate(life) for life in self._lives.lost],
            update_state=update.state.value if self.updater else "",
            update_version=update.version,
            update_reason=update.reason,
        )

    def _metrics_message(self, outbox: Outbox) -> Metrics:
        s = self.settings
        return Metrics(
            site=s.site,
            device=s.device,
            device_time=datetime.now(UTC),
            epoch=outbox.epoch,
            boot=outbox.boot,
            last_seq=outbox.last_seq,
            passages=sum(self.metrics.counts.values()),
            verdicts=dict(self.metrics.counts),
            outbox_depth=outbox.depth(),
            outbox_capacity=outbox.capacity,
            decode_fps=self._decode_fps(),
            cpu_percent=self._cpu.percent(),
            cpu_temp_c=cpu_temperature_c(),
            disk_free_mb=disk_free_mb(s.outbox.path.parent),
        )

    def _decode_fps(self) -> float | None:
        return next((d.stats().decode_fps for d in self._devices if isinstance(d, Camera)), None)

    def _answer_diagnostics(self, until: threading.Event, outbox: Outbox, link: Link) -> None:
        """Answer each diagnostics request central signed, once, until `until` (agent.diagnostics)."""
        answered = diagnostics.Answered()
        s = self.settings
        while not until.is_set():
            try:
                request = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            if not answered.first_time(request):
                log.warning("a diagnostics request came again; answered once", extra={"request": str(request.id)})
                continue
            checks = doctor.running(doctor.Running(
                outbox_path=outbox.path, outbox_depth=outbox.depth(), outbox_capacity=outbox.capacity,
                outbox_warn_fraction=s.outbox.warn_fraction, connections=link.connections,
                policy_version=self.downlinks.policy().version, policy_rejected=self.downlinks.policy_rejected,
                devices=dict(self.station.devices) if self.station else {}, decode_fps=self._decode_fps(),
            ))
            wire = diagnostics.answer(s.signing_key.value(), request, site=s.site, software=__version__, checks=checks,
                                      lines=self._log_tail.last(request.log_lines),
                                      refused_downlinks=self.downlinks.refused)
            link.publish(link.topic("diagnostics"), wire)
            log.info("answered central's diagnostics request",
                     extra={"request": str(request.id), "log_lines": request.log_lines, "bytes": len(wire)})

    # the process

    def run(self, stop: threading.Event, drain_timeout_s: float = 10.0) -> None:
        s = self.settings
        outbox = self._outbox = Outbox(s.outbox.path, s.outbox.capacity).open(new_boot=True)
        gone = self._lives.start(outbox.epoch, outbox.last_seq)
        if gone is not None:
            log.error(
                "this box's outbox was lost since it last ran: a new life starts, numbering from 1; what the "
                "lost one had not delivered is gone (central's devices page shows which sequence numbers)",
                extra={"lost_life": gone["epoch"], "lost_up_to_seq": gone["last_seq"], "life": outbox.epoch},
            )
        link = self._link = self._link_class(
            s.mqtt, s.site, s.device, s.signing_key.value(), self.status, self.downlinks.receive
        )
        publisher = Publisher(s.outbox.path, link, epoch=outbox.epoch)
        gate = Gate(s.gate) if s.gate else None
        hub = StateHub()
        station = self.station = self._station(outbox, link, publisher, gate, self._on_state(hub, link))
        self.downlinks.on_change = link.publish_birth_if_connected
        self.downlinks.on_receipt = publisher.receipt
        self.downlinks.on_conflict = self._conflict
        self.downlinks.on_diagnostics = self._requests.put
        logging.getLogger().addHandler(self._log_tail)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(station, hub, s.kiosk, self.metrics.registry),
                host=s.kiosk.host,
                port=s.kiosk.port,
                log_config=None,
                access_log=False,
            )
        )
        log.info("agent starting",
                 extra={"site": s.site, "device": s.device, "epoch": outbox.epoch, "boot": outbox.boot})
        self._stop = stop
        link.start()
        publishing, inputs = threading.Event(), threading.Event()
        workers = [self._thread("kiosk", server.run)]
        workers += [self._thread(f"device-{i}", d.run, self._emit, inputs) for i, d in enumerate(self._devices)]
        if self._script is not None:
            workers.append(self._thread("simulation", self._script, station, inputs))
        workers.append(self._thread("diagnostics", self._answer_diagnostics, inputs, outbox, link))
        if s.update is not None:
            updater = self.updater = Updater(s, lambda: station.machine.current is not None, self.downlinks.policy,
                                             link.publish_birth_if_connected)
            self.downlinks.on_update = updater.offer
            if self.downlinks.update is not None:  # the one saved by an earlier run: go on with it
                updater.offer(self.downlinks.update)
            workers.append(self._thread("updater", updater.run, inputs))
        station_thread = self._thread("station", station.run, inputs)
        publisher_thread = self._thread("publisher", publisher.run, publishing)
        for t in [publisher_thread, station_thread, *workers]:
            t.start()
        try:
            self._wait_for_kiosk(server)
            sdnotify.ready(f"kiosk on port {self.kiosk_port}")
            self._tick(stop, outbox, link)
        except Exception as exc:  # the main thread's own work failed: stop in order all the same
            log.exception("the agent's main loop failed; stopping")
            self._failed = self._failed or f"main loop: {type(exc).__name__}: {exc}"
        finally:
            sdnotify.stopping()
            inputs.set()  # stop the devices, the simulation and the station
            for t in [station_thread, *workers[1:]]:
                t.join(10)
            publisher.flush()
            deadline = time.monotonic() + (drain_timeout_s if self._failed is None else 0)
            while outbox.depth() and time.monotonic() < deadline:
                time.sleep(0.1)
            publishing.set()
            publisher_thread.join(10)
            link.stop()
            server.should_exit = True
            # Wait for the kiosk's server: a daemon thread still running when the interpreter finalises
            # keeps native objects alive past their library's teardown (zxing-cpp's nanobind then
            # prints "leaked ..." lines, not JSON, into the log).
            workers[0].join(5)
            if gate is not None:
                gate.close()
            if outbox.still_there():
                self._lives.update(outbox.epoch, outbox.last_seq)
            log.info("agent stopped", extra={"left_in_outbox": outbox.depth(), "last_seq": outbox.last_seq})
            logging.getLogger().removeHandler(self._log_tail)
            outbox.close()
        if self._failed is not None:
            raise AgentFailed(self._failed)

    def _thread(self, name: str, target: Callable[..., object], *args: object) -> threading.Thread:
        """A worker whose death stops the agent (daemon: one stuck in a device read never blocks exit)."""

        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - top of a thread: say why, then stop the agent
                log.critical("a part of the agent died; the agent stops", exc_info=True,
                             extra={"part": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                self._failed = self._failed or f"{name}: {type(exc).__name__}: {exc}"
                self._stop.set()

        return threading.Thread(target=guarded, name=name, daemon=True)

    def _conflict(self, conflict: IdentityConflict) -> None:
        """Central saw two boxes with this identity; if this box's life is the one refused, stop sending."""
        outbox, link = self._outbox, self._link
        if outbox is None or link is None:
            return
        if conflict.kept == outbox.epoch and conflict.refused != self._twin_told:
            self._twin_told = conflict.refused
            log.error("another box uses this box's identity; central told it to stop, this box goes on",
                      extra={"other_life": conflict.refused, "life": outbox.epoch})
        if conflict.refused != outbox.epoch:
            return
        link.refuse(
            f"another box uses this box's identity ({self.settings.site}/{self.settings.device}) and was "
            f"there first; central refused this one (life {conflict.refused}). Verdicts stay in the outbox. "
            "Give this box its own identity (checkpoint provision) and restart it"
        )

    def _station(
        self,
        outbox: Outbox,
        link: Link,
        publisher: Publisher,
        gate: Gate | None,
        on_state: Callable[[KioskState], None],
    ) -> Station:
        s = self.settings
        identity = BoxIdentity(s.site, s.device, s.kind, s.pseudonym_key.value())
        recorder = Recorder(
            identity,
            s.signing_key.value(),
            outbox,
            self.downlinks.policy,
            self.downlinks.lists,
            home_province=s.home_province,
            clock_synced=metrics.clock_synchronised,
            committed=publisher.notify,
        )
        chain = build_chain(s.healthcode)

        def link_view() -> LinkView:
            depth = outbox.depth()
            return LinkView(
                online=link.connected.is_set(),
                refused=link.refused,
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

    def _tick(self, stop: threading.Event, outbox: Outbox, link: Link) -> None:
        """Until `stop`: refresh gauges each second, send the metrics message every interval, and tell
        systemd's watchdog we are alive (every part that can die stops the agent, so alive is true)."""
        last_sent = time.monotonic()
        while not stop.wait(1.0):
            if not outbox.still_there():
                raise OutboxGone(
                    f"{outbox.path} was deleted or replaced while the agent ran; restarting the agent "
                    "starts a new outbox, and central reports what the old one had not delivered"
                )
            sdnotify.watchdog()
            if self.updater is not None and self.updater.report.state is Progress.TRIAL:
                self._prove_healthy(self.updater, link)
            self._lives.update(outbox.epoch, outbox.last_seq)
            self.metrics.outbox_depth.set(outbox.depth())
            self.metrics.connected.set(1 if link.connected.is_set() else 0)
            interval = self.downlinks.metrics_interval_s or self.settings.metrics_interval_s
            if link.connected.is_set() and time.monotonic() - last_sent >= interval:
                message = self._metrics_message(outbox)
                self.metrics.disk_free.set((message.disk_free_mb or 0) * 1e6)
                if message.cpu_temp_c is not None:
                    self.metrics.cpu_temp.set(message.cpu_temp_c)
                link.report(message)
                last_sent = time.monotonic()


    def _prove_healthy(self, updater: Updater, link: Link) -> None:
        """On trial after a switch: once the birth is out, every device answers and a test code decodes,
        tell the supervisor (otherwise its deadline rolls this release back)."""
        answering = self.station is not None and len(self.station.devices) >= len(self._devices) and all(
            state == HealthState.OK for state in self.station.devices.values())
        if link.connected.is_set() and answering and self_test_decode():
            updater.layout.healthy(__version__)
            updater.report = UpdateReport(state=Progress.UPDATED, version=__version__)
            log.info("this release is healthy on trial: birth published, devices answering, test code decoded",
                     extra={"version": __version__})
            link.publish_birth_if_connected()


def main(config: Path | None, simulate: bool) -> None:
    agent_settings = load(config)
    logs.setup(component=f"agent:{agent_settings.device}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        _run(agent_settings, simulate, stop)
    except AgentFailed:
        raise SystemExit(1) from None  # already logged, in words, by the part that failed


def _run(agent_settings: AgentSettings, simulate: bool, stop: threading.Event) -> None:
    sim = agent_settings.simulation
    if not simulate:
        Agent(agent_settings, agent_settings.devices()).run(stop, agent_settings.drain_timeout_s)
    elif sim.mode == "direct":
        script: Script = functools.partial(direct_station.run, sim=sim)
        Agent(agent_settings, script=script).run(stop, agent_settings.drain_timeout_s)
    else:
        from agent.simulated_station import SimulatedStation

        with SimulatedStation(agent_settings) as station:
            wired = station.wire(agent_settings)
            Agent(wired, station.devices(wired), script=station.run).run(stop, agent_settings.drain_timeout_s)

