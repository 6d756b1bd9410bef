"""The edge agent (issue 6): verdict latency, outbox drain after an outage, memory and idle CPU.

Five measurements, each beside a baseline taken in the same run:

1. input complete -> verdict shown: a real `Station` (real outbox on disk, recorder, health-code
   chain) fed driver events; timed from submitting the last input (the temperature) to the
   `on_state` call carrying the new verdict. Baseline: `Outbox.append` of the same payload alone
   (the fsync every verdict needs), between travellers so the shared disk is as busy for both.
   Target p95 < 20 ms.
2. input complete -> PUBACK: the whole `agent.app.Agent` in-process against a real Mosquitto and a
   real central collector; PUBACK times are read in the link's paho callback (a subclass of
   `agent.link.Link`, given to the agent as its `link_class`). Travellers 0.2 s apart, then
   0.1 s apart (central's receipt for one verdict arrives just before the next), then 0.1 s apart
   with TCP_NODELAY set on the link's socket by the bench (Nagle + delayed ACK, see the report).
   Baseline: a bare paho QoS 1 publish of a payload of the same size to the same broker.
   Target p95 < 50 ms.
3. outbox drain after an outage: N signed verdicts recorded while no broker was reachable, then
   the agent started against broker + collector (a child process, SQLite store); timed from the
   link's CONNACK until the outbox is empty (rows go only on central's receipts); the PUBACK rate
   too. Baseline: paho publishing the same payloads with the publisher's in-flight window (500)
   to a plain paho subscriber in a child process. Target >= 2,000 verdicts/s.
4. memory: the agent with the simulated station (device simulators + real drivers), camera at
   1280x720, sampled with psutil. `checkpoint agent --simulate` wires its camera at 640x480 with no
   setting to change it (agent/simulated_station.py:wire), so the 1280x720 run uses a launcher
   that does what agent.main does and then sets the camera size; the CLI as shipped is measured
   too. And the box as deployed: `checkpoint agent --config` (no simulation code in the process)
   with the reader and thermometer simulators on ptys in another process and, as its camera, a
   1280x720 clip of the phone scene read through OpenCV (a recorded clip stands in for a camera).
   Baseline: an interpreter that imports cv2, numpy, zxingcpp and pyzbar. Target < 150 MB.
5. idle CPU: the same launcher at 1280x720 with one passage expected every ~6,000 s (nobody at the
   station); baseline: the simulators alone in a process (reader and thermometer on their ptys,
   the phone scene rendered at the camera's size and rate), which the agent process also carries.

Plots: bench/agent_latency.png, bench/agent_drain.png, bench/agent_resources.png.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import paho.mqtt.client as mqtt
import psutil
import yaml

import agent.link
from agent.app import Agent
from agent.config import AgentSettings
from agent.direct_station import facts_of
from agent.healthcode import keys, signed_format
from agent.healthcode.chain import HealthCodeSettings, build_chain
from agent.kiosk.state import KioskState, LinkView
from agent.link import Link
from agent.outbox import Outbox
from agent.passage import PassageMachine
from agent.policy import DEFAULT_POLICY, Policy
from agent.recorder import Lists, Recorder
from agent.station import Station
from agent.travellers import TravellerMix
from agent.verdicts import Station as Identity
from bench.harness import CENTRAL_KEY, DOWNLINK_SEED, Figure, child_processes, percentile
from central.store import Store
from checkpoint.broker import Broker
from common.mqtt import MqttSettings, new_client
from contract.messages import CheckpointKind, CodeColour
from drivers.camera.events import CodeScanned
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.events import CardPresented
from drivers.thermo.events import RawReading, TemperatureMeasured
from drivers.thermo.measure import Measurer, MeasureSettings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH = "agent"
POLICY = Policy.from_yaml(DEFAULT_POLICY)
ISSUER = "bench-issuer"
WINDOW = 500  # agent.publisher.Publisher's default in-flight window
GAP_S = 0.2  # between travellers after the PUBACK: central's receipt (batch_wait_ms 50) comes in this time
BUSY_GAP_S = 0.1  # travellers back to back: the receipt of one verdict arrives just before the next verdict
PSEUDONYM_KEY = secrets.token_hex(32)

SUBSCRIBER = """
import sys, time, threading
import paho.mqtt.client as mqtt
want, done, got = int(sys.argv[2]), threading.Event(), [0]
def on_message(_c, _u, _m):
    got[0] += 1
    if got[0] == want:
        print(f"done {time.monotonic()}", flush=True)
        done.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-sub", protocol=mqtt.MQTTv5)
c.on_message = on_message
c.on_subscribe = lambda *_: print("ready", flush=True)
c.on_connect = lambda cl, *_: cl.subscribe("bench/drain/#", qos=1)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
done.wait(600)
sys.stdin.read()  # the parent reads our CPU time first
c.loop_stop()
"""

# What agent.main does for `--simulate` in devices mode, with the camera size set after `wire`.
LAUNCHER = """
import signal, sys, threading
from pathlib import Path
from agent.app import Agent
from agent.config import AgentSettings
from agent.simulated_station import SimulatedStation
from common import logs
from common import settings
s = settings.load(AgentSettings, Path(sys.argv[1]))
logs.setup(component="agent:bench")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
with SimulatedStation(s) as station:
    wired = station.wire(s)
    camera = wired.camera.model_copy(update={"width": int(sys.argv[2]), "height": int(sys.argv[3])})
    wired = wired.model_copy(update={"camera": camera})
    Agent(wired, station.devices(wired), script=station.run).run(stop)
"""

SIMULATORS_ALONE = """
import signal, sys, threading, time
from pathlib import Path
import psutil
from agent.config import AgentSettings
from agent.simulated_station import SimulatedStation
from common import settings
s = settings.load(AgentSettings, Path(sys.argv[1]))
width, height, fps = int(sys.argv[2]), int(sys.argv[3]), 8.0
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
with SimulatedStation(s) as station:
    before = psutil.Process().memory_info().rss
    station.scene.render(width, height)
    print(f"ready {(psutil.Process().memory_info().rss - before) / 1e6}", flush=True)
    next_at = time.monotonic()
    while not stop.is_set():
        station.scene.render(width, height)
        next_at += 1 / fps
        stop.wait(max(0.0, next_at - time.monotonic()))
"""

# The reader and thermometer simulators on their ptys, in a process of their own; prints the ports.
DEVICE_SIMULATORS = """
import signal, sys, threading
from pathlib import Path
from agent.config import AgentSettings
from agent.simulated_station import SimulatedStation
from common import settings
s = settings.load(AgentSettings, Path(sys.argv[1]))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
with SimulatedStation(s) as station:
    wired = station.wire(s)
    print(wired.idcard.port, wired.thermo.protocol, wired.thermo.port, flush=True)
    stop.wait()
"""

IMPORT_FLOOR = """
import sys
import cv2, numpy, zxingcpp, pyzbar.pyzbar
print("ready", flush=True)
sys.stdin.read()
"""


def run(quick: bool) -> list[Figure]:
    passages = 150 if quick else 1000  # input complete -> verdict shown
    published = 40 if quick else 400  # input complete -> PUBACK, each of three ways
    drain_n = 5_000 if quick else 20_000
    busy_s, idle_s = (8.0, 6.0) if quick else (45.0, 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp_name:
        tmp = Path(tmp_name)
        shown, commit = _verdict_shown(tmp / "shown", passages)
        boxes = {
            name: Device(f"bench-{name}")
            for name in ("puback", "busy-puback", "nodelay", "drain", "busy", "cli", "idle", "deployed")
        }
        with (
            Broker(tmp / "broker") as broker,
            Central(tmp / "central", broker.port, list(boxes.values())) as central,
        ):
            puback, size = _puback(tmp / "puback", broker.port, boxes["puback"], published, GAP_S)
            busy, _ = _puback(tmp / "busy-puback", broker.port, boxes["busy-puback"], published, BUSY_GAP_S)
            nodelay, _ = _puback(tmp / "nodelay", broker.port, boxes["nodelay"], published, BUSY_GAP_S, nodelay=True)
            raw = _raw_round_trips(broker.port, size, published)
            drain = _drain(tmp / "drain", broker.port, central, boxes["drain"], drain_n)
            raw_drain = _raw_drain(broker.port, drain.payloads)
            resources = _resources(tmp / "boxes", broker.port, central, boxes, busy_s, idle_s)
    _plot_latency(shown, commit, {"agent": puback, "agent, 0.1 s apart": busy, "… with TCP_NODELAY": nodelay}, raw)
    _plot_drain(drain, raw_drain)
    _plot_resources(resources)
    return [
        *_latency_figures("input complete → verdict shown", shown, "Outbox.append alone (fsync)", commit, 20.0),
        *_latency_figures("input complete → PUBACK", puback, "bare paho QoS 1 publish, same size", raw, 50.0),
        _latency_figures(
            "input complete → PUBACK, travellers 0.1 s apart (receipts interleave)",
            busy,
            "bare paho QoS 1 publish, same size",
            raw,
            50.0,
        )[1],
        _latency_figures(
            "input complete → PUBACK, 0.1 s apart, TCP_NODELAY on the agent's socket (bench-side patch)",
            nodelay,
            "bare paho QoS 1 publish, same size",
            raw,
            50.0,
        )[1],
        Figure(
            bench=BENCH,
            name=f"outbox drain after an outage ({drain.n:,} verdicts, rows deleted on central's receipts)",
            value=drain.rate,
            unit="verdicts/s",
            baseline_name="paho → paho subscriber, same payloads, window 500",
            baseline=raw_drain.rate,
            target="≥ 2,000 verdicts/s",
            met=drain.rate >= 2000,
        ),
        *(
            Figure(bench=BENCH, name=name, value=v, unit=unit, baseline_name=b_name, baseline=b, higher_is_better=up)
            for name, v, unit, b_name, b, up in (
                (
                    "outbox drain: PUBACK rate (broker-level)",
                    drain.puback_rate,
                    "verdicts/s",
                    "paho publisher's PUBACK rate, same window",
                    raw_drain.puback_rate,
                    True,
                ),
                (
                    "outbox drain: agent CPU per verdict",
                    drain.agent_cpu_us,
                    "µs",
                    "bare paho publisher, per message",
                    raw_drain.publisher_cpu_us,
                    False,
                ),
                (
                    "outbox drain: central collector CPU per verdict",
                    drain.central_cpu_us,
                    "µs",
                    "bare paho subscriber, per message",
                    raw_drain.subscriber_cpu_us,
                    False,
                ),
            )
        ),
        _rss(
            "agent max RSS, simulated station, camera 1280×720",
            resources.busy.max_rss_mb,
            resources.floor_mb,
            "< 150 MB",
            resources.busy.max_rss_mb < 150,
        ),
        _rss(
            "agent max RSS as deployed: `checkpoint agent --config`, camera 1280×720 (a rendered clip through "
            "OpenCV), reader and thermometer simulators in another process",
            resources.deployed.max_rss_mb,
            resources.floor_mb,
            "< 150 MB",
            resources.deployed.max_rss_mb < 150,
        ),
        _rss(
            "agent max RSS, `checkpoint agent --simulate` as shipped (camera 640×480)",
            resources.cli.max_rss_mb,
            resources.floor_mb,
        ),
        Figure(
            bench=BENCH,
            name="agent idle CPU, devices connected, nobody at the station (camera 1280×720 @ 8 fps)",
            value=resources.idle.cpu_percent,
            unit="% of a core",
            baseline_name="the simulators alone (ptys + phone scene rendered at 1280×720, 8 fps)",
            baseline=resources.simulators_cpu,
            higher_is_better=False,
            target="none set in issue 6 (reported)",
        ),
    ]


def _rss(name: str, mb: float, floor_mb: float, target: str = "", met: bool | None = None) -> Figure:
    return Figure(
        bench=BENCH,
        name=name,
        value=mb,
        unit="MB",
        baseline_name="python importing cv2, numpy, zxingcpp, pyzbar",
        baseline=floor_mb,
        higher_is_better=False,
        target=target,
        met=met,
    )


def _latency_figures(
    name: str, ms: list[float], baseline_name: str, base: list[float], p95_target: float
) -> list[Figure]:
    p95 = percentile(ms, 95)
    return [
        Figure(
            bench=BENCH,
            name=f"{name}, median",
            value=percentile(ms, 50),
            unit="ms",
            baseline_name=baseline_name,
            baseline=percentile(base, 50),
            higher_is_better=False,
        ),
        Figure(
            bench=BENCH,
            name=f"{name}, p95",
            value=p95,
            unit="ms",
            baseline_name=baseline_name,
            baseline=percentile(base, 95),
            higher_is_better=False,
            target=f"p95 < {p95_target:g} ms",
            met=p95 < p95_target,
        ),
    ]


_T0 = time.monotonic()


def _note(text: str) -> None:
    print(f"bench_agent [{time.monotonic() - _T0:5.1f} s]: {text}", file=sys.stderr, flush=True)


# the traveller's inputs, as the drivers report them


def _issuer() -> tuple[HealthCodeSettings, Callable[[int], CodeScanned]]:
    key = keys.generate_key()
    settings = HealthCodeSettings(issuer_keys={ISSUER: [keys.public_key_text(key)]})

    def code(n: int) -> CodeScanned:
        now = datetime.now(UTC)
        claims = signed_format.Claims(
            iss=ISSUER,
            sub=f"{n:016x}",
            col="green",
            iat=int(now.timestamp()) - 60,
            exp=int((now + timedelta(hours=24)).timestamp()),
        )
        return CodeScanned(
            camera="bench-camera",
            text=signed_format.encode(claims, key),
            colour=CodeColour.GREEN,
            colour_confidence=0.9,
            decoder="zxing",
            ms=5.0,
            corners=((0, 0), (100, 0), (100, 100), (0, 100)),
            frame_width=1280,
            frame_height=720,
            at=now,
        )

    return settings, code


_ISSUER = _issuer()


def _temperature() -> TemperatureMeasured:
    """A forehead at 36.6 °C as the thermometer driver's measurement layer reports it."""
    measurer = Measurer(MeasureSettings(offset_c=0.5))
    now = datetime.now(UTC)
    event = None
    for object_c in (30.0, 36.1, 36.1, 36.1, 36.1):  # the empty scene, then a burst of four readings
        event = measurer.add(RawReading(object_c=object_c, ambient_c=25.0, raw=b"", protocol="gy-mcu", received_at=now))
    assert event is not None and event.body_c == 36.6
    return event


def _cards() -> list[CardPresented]:
    today = datetime.now(UTC).date()
    return [CardPresented(card=c) for c in synthetic_deck() if not c.expired(today)]


def _until(predicate: Callable[[], bool], timeout: float, step: float = 0.0005) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _passages(
    submit: Callable[[Any], None], shown: Callable[[], int], n: int, after: Callable[[int], object], gap: float
) -> list[float]:
    """Card, code, then (once those are handled) the temperature; the submit times of the last inputs."""
    cards, (_, code) = _cards(), _ISSUER
    started: list[float] = []
    for i in range(n):
        submit(cards[i % len(cards)])
        submit(code(i))
        time.sleep(0.01)  # the staff's screen fills in before the forehead is measured
        before = shown()
        last = _temperature()
        started.append(time.perf_counter())
        submit(last)
        if not _until(lambda before=before: shown() > before, 5.0):  # type: ignore[misc]
            raise RuntimeError(f"passage {i} produced no verdict")
        after(i)
        time.sleep(gap)
    return started


# 1. input complete -> verdict shown


def _verdict_shown(tmp: Path, n: int) -> tuple[list[float], list[float]]:
    outbox = Outbox(tmp / "outbox.sqlite").open(new_boot=True)
    identity = Identity("bench-site", "bench-shown", CheckpointKind.TRAFFIC, bytes.fromhex(PSEUDONYM_KEY))
    recorder = Recorder(identity, secrets.token_bytes(32), outbox, lambda: POLICY, Lists())
    chain = build_chain(_ISSUER[0])
    shown_at: list[float] = []
    last_id: list[str | None] = [None]

    def on_state(state: KioskState) -> None:
        if state.verdict is not None and state.verdict.id != last_id[0]:
            shown_at.append(time.perf_counter())
            last_id[0] = state.verdict.id

    station = Station(
        recorder,
        PassageMachine(CheckpointKind.TRAFFIC, lambda: POLICY, timeout_s=20),
        lambda text, colour: chain.verify(text, colour),
        lambda: LinkView(
            online=True, outbox_depth=outbox.depth(), outbox_capacity=outbox.capacity, outbox_warning=False
        ),
        on_state=on_state,
    )
    commit: list[float] = []
    bare = Outbox(tmp / "baseline.sqlite").open(new_boot=True)

    def commit_alone(_i: int) -> None:
        """The baseline, between travellers (so the shared disk is as busy for both): the verdict just
        shown committed again alone, one transaction, synchronous=FULL."""
        (row,) = outbox.rows([outbox.last_seq])
        t0 = time.perf_counter()
        bare.append(bare.next_seq(), row.verdict_id, row.flagged, row.topic, row.payload)
        commit.append(1000 * (time.perf_counter() - t0))

    stop = threading.Event()
    thread = threading.Thread(target=station.run, args=(stop,), name="station")
    thread.start()
    try:
        started = _passages(station.submit, lambda: len(shown_at), n, commit_alone, 0.02)
    finally:
        stop.set()
        thread.join()
        outbox.close()
        bare.close()
    shown = [1000 * (s - t) for s, t in zip(shown_at, started, strict=True)]
    _note(f"verdict shown: median {percentile(shown, 50):.2f} ms; commit alone {percentile(commit, 50):.2f} ms")
    return shown, commit


# the rig: a collector in a child process, the agent in this one with a timed link


@dataclass
class Device:
    name: str
    key: str = field(default_factory=lambda: secrets.token_hex(32))


class Central:
    """central.ingest.Collector over a SQLite store, in a child process of its own (as deployed)."""

    def __init__(self, workdir: Path, port: int, devices: list[Device]) -> None:
        self.workdir = workdir
        self.port = port
        self.devices = devices
        self.url = f"sqlite:///{workdir / 'central.sqlite'}"
        self.store: Store | None = None
        self._running = ExitStack()
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Central:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.url)
        self.store.migrate()
        for device in self.devices:
            self.store.register_device(device.name, "bench-site", "traffic", device.key)
        (self._proc,) = self._running.enter_context(
            child_processes(
                "bench.children.collector", [self.url, str(self.port), "central-1", DOWNLINK_SEED], wait_s=30
            )
        )
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stored(self, device: str) -> int:
        with sqlite3.connect(self.url.split("///", 1)[1]) as db:
            return int(db.execute("SELECT count(*) FROM verdicts WHERE device = ?", (device,)).fetchone()[0])

    def __exit__(self, *exc: object) -> None:
        self._running.close()
        if self.store is not None:
            self.store.dispose()


class Probe:
    """Times seen by the agent's link: CONNACKs, and the PUBACK of each verdict (by mid)."""

    def __init__(self) -> None:
        self.connected_at: list[float] = []
        self.acked_at: dict[int, float] = {}
        self.published_at: dict[int, float] = {}
        self.verdict_payloads: dict[int, bytes] = {}  # mid -> payload, parsed only afterwards

    def link_class(self) -> type[Link]:
        probe = self

        class TimedLink(Link):
            def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, replayed: bool = False) -> int:
                t = time.perf_counter()
                mid = super().publish(topic, payload, retain=retain, replayed=replayed)
                probe.published_at[mid] = t
                if topic.endswith("/verdict"):
                    probe.verdict_payloads[mid] = payload if isinstance(payload, bytes) else payload.encode()
                return mid

            def _connected(self, client: mqtt.Client, *args: Any) -> None:
                super()._connected(client, *args)
                probe.connected_at.append(time.perf_counter())

            def _published(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
                probe.acked_at.setdefault(mid, time.perf_counter())
                super()._published(client, userdata, mid, rc, props)

        return TimedLink

    def verdict_acks(self) -> int:
        return sum(1 for mid in list(self.verdict_payloads) if mid in self.acked_at)

    def first_puback_by_seq(self) -> dict[int, float]:
        by_seq: dict[int, float] = {}
        for mid, payload in self.verdict_payloads.items():
            if mid in self.acked_at:
                seq = int(json.loads(payload)["seq"])
                by_seq[seq] = min(by_seq.get(seq, float("inf")), self.acked_at[mid])
        return by_seq


def _settings(workdir: Path, port: int, device: Device, **extra: Any) -> dict[str, Any]:
    return {
        "site": "bench-site",
        "device": device.name,
        "kind": "traffic",
        "signing_key": {"hex": device.key},
        "pseudonym_key": {"hex": PSEUDONYM_KEY},
        "central_key": {"hex": CENTRAL_KEY},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "outbox": {"path": str(workdir / "outbox.sqlite")},
        "state_dir": str(workdir / "state"),
        "kiosk": {"port": 0},
        **extra,
    }


@contextmanager
def _agent_running(
    settings: AgentSettings, probe: Probe, script: Any = None, *, nodelay: bool = False
) -> Iterator[Agent]:
    """The whole agent in a thread of this process, with the probe's link; with `nodelay`, the link's
    socket has TCP_NODELAY (Nagle off), which the agent does not set itself."""
    stop = threading.Event()
    with ExitStack() as patches:
        if nodelay:
            patches.enter_context(mock.patch.object(agent.link, "new_client", _nodelay_client))
        box = Agent(settings, script=script, link_class=probe.link_class())
        thread = threading.Thread(target=box.run, args=(stop,), kwargs={"drain_timeout_s": 10.0}, name="agent")
        thread.start()
        try:
            yield box
        finally:
            stop.set()
            thread.join()


# 2. input complete -> PUBACK


def _nodelay_client(settings: MqttSettings, client_id: str, **kwargs: Any) -> mqtt.Client:
    client = new_client(settings, client_id, **kwargs)
    client.on_socket_open = lambda _c, _u, sock: sock.setsockopt(  # type: ignore[union-attr,attr-defined]
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
    )
    return client


def _puback(
    tmp: Path, port: int, device: Device, n: int, gap: float, *, nodelay: bool = False
) -> tuple[list[float], int]:
    """Latencies (ms) from the last input to the verdict's PUBACK, and the verdicts' payload size;
    `gap` s between one verdict's PUBACK and the next traveller."""
    settings = AgentSettings(**_settings(tmp, port, device, healthcode=_ISSUER[0]))
    probe = Probe()
    started: list[float] = []
    done = threading.Event()

    def script(station: Station, stop: threading.Event) -> None:
        _until(lambda: bool(probe.connected_at) or stop.is_set(), 15.0, 0.01)
        time.sleep(0.5)  # the birth and the subscriptions settle
        try:
            started.extend(
                _passages(
                    station.submit,
                    lambda: station.shown,
                    n,
                    lambda i: _until(lambda: probe.verdict_acks() > i, 5.0, 0.001),
                    gap,
                )
            )
        finally:
            done.set()

    with _agent_running(settings, probe, script, nodelay=nodelay):
        done.wait(600)
    acks = probe.first_puback_by_seq()
    puback = [1000 * (acks[seq] - t) for seq, t in enumerate(started, start=1) if seq in acks]
    if len(puback) != n:
        _note(f"PUBACK seen for {len(puback)} of {n} verdicts")
    size = len(next(iter(probe.verdict_payloads.values())))
    p50, p95 = percentile(puback, 50), percentile(puback, 95)
    _note(f"PUBACK (gap {gap} s, nodelay {nodelay}): median {p50:.2f} ms, p95 {p95:.2f} ms")
    return puback, size


def _raw_round_trips(port: int, size: int, n: int) -> list[float]:
    acked: dict[int, float] = {}

    def on_publish(_c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        acked.setdefault(mid, time.perf_counter())

    client = new_client(MqttSettings(port=port), client_id="bench-raw-pub")
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = b"x" * size
    times: list[float] = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            mid = client.publish("bench/raw/verdict", payload, qos=1).mid
            _until(lambda mid=mid: mid in acked, 5.0)  # type: ignore[misc]
            times.append(1000 * (acked[mid] - t0))
            time.sleep(0.05)  # nothing comes back but PUBACKs here, so the gap does not matter
    finally:
        client.disconnect()
        client.loop_stop()
    _note(f"bare paho ({size} B): median {percentile(times, 50):.2f} ms, p95 {percentile(times, 95):.2f} ms")
    return times


# 3. outbox drain after an outage


@dataclass
class Drain:
    n: int
    rate: float  # rows deleted per second, from CONNACK to empty
    puback_rate: float
    depth: list[tuple[float, int]]  # (s since CONNACK, rows left)
    acks: list[float]  # s since CONNACK of each verdict's PUBACK
    payloads: list[bytes]
    agent_cpu_us: float  # this process (the agent) from CONNACK to empty, per verdict
    central_cpu_us: float  # the collector's process, same span


def _fill(path: Path, device: Device, n: int) -> list[bytes]:
    """N signed verdicts committed while no broker is reachable (fsync off for the fill only)."""
    outbox = Outbox(path).open(new_boot=True)
    outbox.db.execute("PRAGMA synchronous=OFF")
    identity = Identity("bench-site", device.name, CheckpointKind.TRAFFIC, bytes.fromhex(PSEUDONYM_KEY))
    recorder = Recorder(identity, bytes.fromhex(device.key), outbox, lambda: POLICY, Lists())
    mix = TravellerMix(7)
    facts = [facts_of(mix.next(), POLICY) for _ in range(500)]
    for i in range(n):
        recorder.record(facts[i % len(facts)])
    payloads = [row.payload for row in outbox.pending(limit=n)]
    flagged = sum(row.flagged for row in outbox.pending(limit=n))
    outbox.close()
    _note(f"drain: {n} verdicts recorded offline ({flagged} flagged), {sum(map(len, payloads)) / n:.0f} B each")
    return payloads


def _drain(tmp: Path, port: int, central: Central, device: Device, n: int) -> Drain:
    payloads = _fill(tmp / "outbox.sqlite", device, n)
    settings = AgentSettings(**_settings(tmp, port, device))
    probe = Probe()
    depth: list[tuple[float, int]] = []
    with sqlite3.connect(tmp / "outbox.sqlite") as watch, _agent_running(settings, probe):
        _until(lambda: bool(probe.connected_at), 15.0, 0.005)
        t0 = probe.connected_at[0]
        cpu = _CpuMeter(os.getpid(), central.pid)
        deadline = time.monotonic() + (60 if n <= 5000 else 240)
        while time.monotonic() < deadline:
            left = int(watch.execute("SELECT count(*) FROM outbox").fetchone()[0])
            depth.append((time.perf_counter() - t0, left))
            if left == 0:
                break
            time.sleep(0.05)
        agent_s, central_s = cpu.seconds()
    emptied = depth[-1][0] if depth[-1][1] == 0 else float("nan")
    acks = sorted(probe.acked_at[mid] - t0 for mid in probe.verdict_payloads if mid in probe.acked_at)
    stored = central.stored(device.name)
    _note(
        f"drain: outbox empty after {emptied:.2f} s, last PUBACK at {acks[-1]:.2f} s, central holds {stored}; "
        f"CPU agent {agent_s:.1f} s, collector {central_s:.1f} s"
    )
    return Drain(n, n / emptied, n / acks[-1], depth, acks, payloads, 1e6 * agent_s / n, 1e6 * central_s / n)


class _CpuMeter:
    """CPU seconds (user + system, all threads) that each process spends from now on."""

    def __init__(self, *pids: int) -> None:
        self._processes = [psutil.Process(pid) for pid in pids]
        self._start = [self._used(p) for p in self._processes]

    @staticmethod
    def _used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def seconds(self) -> list[float]:
        return [self._used(p) - s for p, s in zip(self._processes, self._start, strict=True)]


@dataclass
class RawDrain:
    rate: float
    puback_rate: float
    acks: list[float]
    received_at: float
    publisher_cpu_us: float
    subscriber_cpu_us: float


def _raw_drain(port: int, payloads: list[bytes]) -> RawDrain:
    sub = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(port), str(len(payloads))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert sub.stdout is not None
    if sub.stdout.readline().strip() != "ready":
        raise RuntimeError("the raw subscriber did not start")
    acked: list[float] = []
    client = new_client(MqttSettings(port=port), client_id="bench-raw-drain")
    client.max_inflight_messages_set(WINDOW)
    client.on_publish = lambda *_: acked.append(time.monotonic())
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        cpu = _CpuMeter(os.getpid(), sub.pid)
        t0 = time.monotonic()
        for i, payload in enumerate(payloads):
            client.publish(f"bench/drain/{i % 4}", payload, qos=1)
        line = sub.stdout.readline().split()
        received = float(line[1]) - t0
        _until(lambda: len(acked) >= len(payloads), 30.0)
        publisher_s, subscriber_s = cpu.seconds()
    finally:
        client.disconnect()
        client.loop_stop()
        assert sub.stdin is not None
        sub.stdin.close()
        sub.wait(timeout=30)
    acks = [a - t0 for a in acked]
    n = len(payloads)
    _note(
        f"raw drain: all received after {received:.2f} s, last PUBACK at {acks[-1]:.2f} s; "
        f"CPU publisher {publisher_s:.1f} s, subscriber {subscriber_s:.1f} s"
    )
    return RawDrain(n / received, n / acks[-1], acks, received, 1e6 * publisher_s / n, 1e6 * subscriber_s / n)


# 4, 5. memory and idle CPU of the agent with the simulated station


@dataclass
class Sampled:
    label: str
    rss_mb: list[tuple[float, float]]  # (s since start, MB)
    cpu_percent: float  # over the measuring window (after warm-up)
    decode_fps: float | None
    verdicts: int

    @property
    def max_rss_mb(self) -> float:
        return max(mb for _, mb in self.rss_mb)


@dataclass
class Resources:
    busy: Sampled
    cli: Sampled
    idle: Sampled
    deployed: Sampled
    floor_mb: float
    simulators_cpu: float


class MetricsListener:
    """The agents' metrics messages on the broker (decode frame rate, passages): the pipeline runs."""

    def __init__(self, port: int) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self._client = new_client(MqttSettings(port=port), client_id="bench-metrics")
        self._client.on_connect = lambda c, *_: c.subscribe("checkpoint/v1/+/+/metrics", qos=1)
        self._client.on_message = lambda _c, _u, m: self.latest.__setitem__(m.topic, json.loads(m.payload))
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def of(self, device: str) -> dict[str, Any]:
        return next((v for k, v in self.latest.items() if f"/{device}/" in k), {})

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _resources(
    tmp: Path, port: int, central: Central, boxes: dict[str, Device], busy_s: float, idle_s: float
) -> Resources:
    listener = MetricsListener(port)
    rig = _Rig(port, central, listener)
    try:
        busy = rig.sample(tmp / "busy", boxes["busy"], "1280×720, 60 passages/min", busy_s, 60.0, (1280, 720))
        cli = rig.sample(tmp / "cli", boxes["cli"], "CLI as shipped, 640×480", busy_s / 2, 60.0, None)
        idle = rig.sample(tmp / "idle", boxes["idle"], "1280×720, nobody", idle_s, 0.01, (1280, 720))
        deployed = rig.deployed(tmp / "deployed", boxes["deployed"], "as deployed, 1280×720 clip", busy_s)
    finally:
        listener.close()
    floor = _import_floor_mb()
    simulators, scene_mb = _simulators_alone(tmp / "sims", port, idle_s)
    _note(f"import floor {floor:.0f} MB; simulators alone {simulators:.1f} % of a core; phone scene {scene_mb:.0f} MB")
    return Resources(busy, cli, idle, deployed, floor, simulators)


def _box_config(workdir: Path, port: int, device: Device, per_minute: float) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "agent.yaml"
    data = _settings(
        workdir,
        port,
        device,
        metrics_interval_s=2,
        simulation={"mode": "devices", "passages_per_minute": per_minute, "seed": 1, "workdir": str(workdir / "dev")},
    )
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return config


@dataclass
class _Rig:
    """Starts an agent with the simulated station as a child process and samples it."""

    port: int
    central: Central
    listener: MetricsListener

    def sample(
        self, workdir: Path, device: Device, label: str, seconds: float, per_minute: float, size: tuple[int, int] | None
    ) -> Sampled:
        """RSS every 0.25 s from the start; CPU over `seconds` after a warm-up. `size` None: the CLI as shipped."""
        config = _box_config(workdir, self.port, device, per_minute)
        if size is None:
            args = [sys.executable, "-m", "checkpoint", "agent", "--config", str(config), "--simulate"]
        else:
            args = [sys.executable, "-c", LAUNCHER, str(config), str(size[0]), str(size[1])]
        return self._sampled(workdir, device, label, seconds, args)

    def deployed(self, workdir: Path, device: Device, label: str, seconds: float) -> Sampled:
        """`checkpoint agent --config`: simulators in another process, a rendered clip as the camera."""
        config = _box_config(workdir, self.port, device, 0.01)
        sims = subprocess.Popen(
            [sys.executable, "-c", DEVICE_SIMULATORS, str(config)], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert sims.stdout is not None
        try:
            reader, protocol, thermometer = sims.stdout.readline().split()
            data = yaml.safe_load(config.read_text())
            del data["simulation"]
            data.update(
                idcard={"port": reader},
                thermo={"protocol": protocol, "port": thermometer},
                camera={"source": str(_clip(workdir / "camera.avi")), "width": 1280, "height": 720, "fps": 8},
            )
            config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
            args = [sys.executable, "-m", "checkpoint", "agent", "--config", str(config)]
            return self._sampled(workdir, device, label, seconds, args)
        finally:
            sims.terminate()
            sims.wait(timeout=15)

    def _sampled(self, workdir: Path, device: Device, label: str, seconds: float, args: list[str]) -> Sampled:
        with open(workdir / "agent.log", "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        process = psutil.Process(proc.pid)
        samples: list[tuple[float, float]] = []
        warm_up = 5.0
        t0 = time.monotonic()
        cpu0: tuple[Any, float] | None = None
        try:
            while (elapsed := time.monotonic() - t0) < warm_up + seconds:
                if proc.poll() is not None:
                    raise RuntimeError(f"the agent exited: {(workdir / 'agent.log').read_text()[-1500:]}")
                samples.append((elapsed, process.memory_info().rss / 1e6))
                if cpu0 is None and elapsed >= warm_up:
                    cpu0 = (process.cpu_times(), time.monotonic())
                time.sleep(0.25)
            cpu1 = (process.cpu_times(), time.monotonic())
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        assert cpu0 is not None
        used = (cpu1[0].user - cpu0[0].user) + (cpu1[0].system - cpu0[0].system)
        cpu = 100 * used / (cpu1[1] - cpu0[1])
        metrics = self.listener.of(device.name)
        sampled = Sampled(label, samples, cpu, metrics.get("decode_fps"), int(metrics.get("passages") or 0))
        _note(
            f"{label}: max RSS {sampled.max_rss_mb:.0f} MB, CPU {cpu:.1f} %, decode {sampled.decode_fps} fps, "
            f"{sampled.verdicts} passages, central holds {self.central.stored(device.name)}"
        )
        return sampled


def _clip(path: Path, seconds: float = 20.0, fps: float = 8.0) -> Path:
    """A 1280x720 MJPEG clip of the phone scene: a signed green code held up for 3 s, 2 s of nobody."""
    from drivers.camera.scene import PhoneScene

    scene = PhoneScene(seed=5)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (1280, 720))
    try:
        for frame in range(int(seconds * fps)):
            at = (frame / fps) % 5.0
            if at == 0:
                scene.show(_ISSUER[1](frame).text, CodeColour.GREEN)
            elif 3.0 <= at < 3.0 + 1 / fps:
                scene.clear()
            writer.write(scene.render(1280, 720))
    finally:
        writer.release()
    return path


def _import_floor_mb() -> float:
    child = subprocess.Popen(
        [sys.executable, "-c", IMPORT_FLOOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert child.stdout is not None and child.stdin is not None
    child.stdout.readline()
    rss = psutil.Process(child.pid).memory_info().rss / 1e6
    child.stdin.close()
    child.wait(timeout=10)
    return rss


def _simulators_alone(workdir: Path, port: int, seconds: float) -> tuple[float, float]:
    """CPU (% of a core) of the simulators in a process of their own, and the MB the phone scene
    took when it first rendered at 1280x720 (its cached noise frames: simulation only)."""
    config = _box_config(workdir, port, Device("bench-sims"), 0.01)
    child = subprocess.Popen(
        [sys.executable, "-c", SIMULATORS_ALONE, str(config), "1280", "720"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    try:
        scene_mb = float(child.stdout.readline().split()[1])
        time.sleep(1)
        process = psutil.Process(child.pid)
        c0, t0 = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = process.cpu_times(), time.monotonic()
    finally:
        child.terminate()
        child.wait(timeout=15)
    return 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0), scene_mb


# plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _cdf(ax: Any, values: list[float], label: str) -> None:
    ordered = sorted(values)
    ax.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post", label=label)


def _plot_latency(shown: list[float], commit: list[float], agents: dict[str, list[float]], raw: list[float]) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, title, series, target in (
        (
            axes[0],
            "input complete → verdict shown",
            [("station → on_state", shown), ("Outbox.append alone", commit)],
            20,
        ),
        (
            axes[1],
            "input complete → PUBACK",
            [*agents.items(), ("bare paho QoS 1", raw)],
            50,
        ),
    ):
        for label, values in series:
            _cdf(ax, values, f"{label}: p50 {percentile(values, 50):.1f}, p95 {percentile(values, 95):.1f} ms")
        ax.axvline(target, color="red", linestyle="--", linewidth=1, label=f"target p95 < {target} ms")
        ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_ylabel("fraction of passages")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(HERE / "agent_latency.png", dpi=110)
    plt.close(fig)


def _plot_drain(drain: Drain, raw: RawDrain) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(
        [t for t, _ in drain.depth],
        [drain.n - d for _, d in drain.depth],
        label="agent: rows deleted (central's receipts)",
    )
    ax.plot(drain.acks, range(1, len(drain.acks) + 1), label="agent: PUBACKs")
    ax.plot(raw.acks, range(1, len(raw.acks) + 1), label="bare paho: PUBACKs", linestyle="--")
    ax.plot([raw.received_at], [drain.n], "o", label="bare paho: all received by the subscriber")
    ax.set_xlabel("s since the broker came back (CONNACK)")
    ax.set_ylabel("verdicts")
    ax.set_title(f"outbox drain after an outage: {drain.n:,} verdicts, {drain.rate:,.0f}/s (target ≥ 2,000/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "agent_drain.png", dpi=110)
    plt.close(fig)


def _plot_resources(res: Resources) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for sampled in (res.busy, res.cli, res.idle, res.deployed):
        label = f"{sampled.label}: max {sampled.max_rss_mb:.0f} MB, CPU {sampled.cpu_percent:.0f} %"
        ax.plot([t for t, _ in sampled.rss_mb], [mb for _, mb in sampled.rss_mb], label=label)
    ax.axhline(150, color="red", linestyle="--", linewidth=1, label="target < 150 MB")
    ax.axhline(res.floor_mb, color="grey", linestyle=":", linewidth=1, label=f"import floor {res.floor_mb:.0f} MB")
    ax.set_xlabel("s since start")
    ax.set_ylabel("RSS, MB")
    ax.set_title("agent memory: simulated station, and as deployed with a clip as its camera")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "agent_resources.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    for f in run(quick="--full" not in sys.argv):
        print(f"{f.name}: {f.value:,.3g} {f.unit} | {f.baseline_name}: {f.baseline:,.3g} | {f.target} {f.met}")
