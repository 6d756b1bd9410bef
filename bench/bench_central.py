"""The central collector (issue 7): ingest rate against the raw broker rate, dashboard latency.

1. raw broker rate: N signed messages (each box's birth, then verdicts) are queued at a real
   Mosquitto (the project's configuration) for a persistent session of a plain paho subscriber
   (QoS 1, the same shared subscription and receive maximum as the collector, acknowledging each
   message as it arrives, storing nothing);
   the subscriber then connects and is timed from its first message to its N-th. The publisher is
   a child process, done before the timing starts, so it takes no CPU from the consumer.
2. collector ingest rate: the same N messages (each box's birth, then verdicts) queued the same way
   for the collector's session, then `central.ingest.Collector` drains them: validate (model + HMAC
   signature), one transaction per batch (verdicts, counters, cases), acknowledge after the commit,
   receipts (MAC'd: the births said the boxes check them, contract.signing). Into SQLite (WAL,
   synchronous=FULL) and PostgreSQL (the machine's server). Reported as a ratio of (1); target
   >= 0.8. Beside each rate, the collector's CPU per verdict (this process, every thread, from the
   first message to the last) against the bare subscriber's CPU per message in (1): target <= 2x.
   Both run under central.ingest.calm_gc, as central's processes do. CPU per message varies by about
   15 % from run to run on this machine, so (1) and the PostgreSQL drain run ROUNDS times,
   interleaved, and the figures are the medians. Beside them: the same bare subscriber on the
   project's own MQTT client (common.mqtt, which reads the socket in large pieces as the collector
   does: the like-for-like ratio), and the PostgreSQL server's own CPU for the drain (work the
   collector hands it, outside the collector's figure). Then the scale-out lever: two
   collector processes on the one shared subscription into the same PostgreSQL (as
   deploy/SCALE-OUT.md runs them), counted from central's own tally.
3. dashboard latency: a database loaded with 1,000,000 verdicts (quick: 100,000) of 50 boxes over
   14 days, 1 % flagged (so cases too), through `Store.write_batch`; then the dashboard's pages and
   API reads over real HTTP (uvicorn, a logged-in session), each many times; p95 of all. Baseline:
   GET /healthz on the same server (HTTP with no query). Target p95 < 200 ms.

Plot: bench/central_ingest.png (messages/s over time of the three drains).
Run: python -m bench.run central [--quick]; or python -m bench.bench_central [--quick].
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import create_engine, text

from bench.harness import DOWNLINK_SEED, Figure, child_processes, percentile
from central.auth import Accounts, Role
from central.config import CentralSettings
from central.ingest import Collector, calm_gc
from central.intake import verdict_row
from central.regions import ROOT
from central.store import Batch, Store
from central.web import create_app
from checkpoint.broker import Broker, free_port
from common.mqtt import Client
from contract import idnumber, signing, topics
from contract.messages import (
    CheckpointKind,
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    DeviceState,
    Identity,
    IdSource,
    Inputs,
    PersonInput,
    Reason,
    Status,
    TemperatureInput,
    TravelInput,
    Verdict,
)

OUT = Path(__file__).parent
KEY = bytes(range(32))
PSEUDONYM_KEY = b"p" * 32
PG_ADMIN = os.environ.get("CHECKPOINT_TEST_PG", "postgresql+psycopg://checkpoint:checkpoint@127.0.0.1:5432/postgres")
RECEIVE_MAXIMUM = 1000  # the collector's default (2 x batch_max 500), inside Mosquitto's window of 1000
SITES = [f"site-{n:02d}" for n in range(10)]
DEVICES = [(SITES[n % 10], f"box-{n:02d}") for n in range(50)]


# the verdicts


def person_number(n: int) -> str:
    first17 = f"110105{1950 + n % 50}0101{n % 1000:03d}"
    return first17 + idnumber.check_character(first17)


def make_verdict(n: int, seq: int, site: str, device: str, at: datetime, flagged: bool) -> Verdict:
    number = person_number(n)
    person = PersonInput(
        source=IdSource.CARD,
        pseudonym=idnumber.pseudonym(PSEUDONYM_KEY, number),
        id_masked=idnumber.mask(number),
        identity=Identity(name="测试", id_number=number) if flagged else None,
    )
    return Verdict(
        id=uuid.uuid4(),
        site=site,
        device=device,
        seq=seq,
        boot=1,
        device_time=at,
        kind=CheckpointKind.TRAFFIC,
        inputs=Inputs(
            person=person,
            code=CodeInput(colour=CodeColour.RED if flagged else CodeColour.GREEN, source=ColourSource.SIGNED_PAYLOAD),
            temperature=TemperatureInput(body_c=36.6, object_c=36.1, offset_c=0.5, sensor="gy-mcu"),
            travel=TravelInput(plate="鄂A12345", origin="420100", destination="幸福小区"),
        ),
        decision=Decision.DENY if flagged else Decision.PASS,
        reasons=[Reason.CODE_RED] if flagged else [Reason.CODE_GREEN, Reason.TEMP_NORMAL],
        policy_version="bench-1",
    )


# publishing in a child process (python -m bench.bench_central publish PORT N)


def publish(port: int, count: int) -> None:
    """`count` messages: each box's birth (saying, as today's agent does, that it checks receipts MAC'd
    with its key), then verdicts."""
    now = datetime.now(UTC)
    says_mac = Properties(PacketTypes.PUBLISH)
    says_mac.UserProperty = [signing.RECEIPT_MAC]
    wires: list[tuple[str, bytes, Properties | None]] = [
        (topics.uplink(site, device, "status"), signing.sign(KEY, Status(
            site=site, device=device, state=DeviceState.ONLINE, boot=1, connection=1, order=1, device_time=now)),
         says_mac)
        for site, device in DEVICES
    ]
    for n in range(count - len(DEVICES)):
        site, device = DEVICES[n % len(DEVICES)]
        wires.append(
            (
                topics.uplink(site, device, "verdict"),
                signing.sign(KEY, make_verdict(n, n // len(DEVICES) + 1, site, device, now, n % 100 == 0)),
                None,
            )
        )
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    for topic, wire, props in wires:
        if len(pending) >= 30_000:  # message ids are 16 bits: never have more than that many out at once
            pending.popleft().wait_for_publish(60)
        pending.append(client.publish(topic, wire, qos=1, properties=props))
    for info in pending:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def queue_at_broker(broker: Broker, count: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "bench.bench_central", "publish", str(broker.port), str(count)], check=True, timeout=600
    )


# the three drains


class Drain:
    """Counts messages over time; `rate` is from the first to the last."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.times: list[tuple[float, int]] = []
        self.done = threading.Event()
        self.cpu_s = 0.0  # this process's CPU (every thread) from the first message to the last
        self.server_cpu_s = 0.0  # the database server's, for the same drain (PostgreSQL)

    def sample(self, count: Callable[[], int], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        cpu0 = time.process_time()
        while time.monotonic() < deadline:
            n = count()
            if n and (not self.times or n != self.times[-1][1]):
                self.times.append((time.monotonic(), n))
            if n >= self.total:
                self.cpu_s = time.process_time() - cpu0
                return
            time.sleep(0.02)
        raise TimeoutError(f"drained {count()} of {self.total}")

    @property
    def cpu_per_message_us(self) -> float:
        return self.cpu_s / self.total * 1e6

    @property
    def rate(self) -> float:
        (t0, n0), (t1, n1) = self.times[0], self.times[-1]
        return (n1 - n0) / (t1 - t0)


def raw_drain(broker: Broker, total: int, client_class: type[mqtt.Client] = mqtt.Client) -> Drain:
    """`client_class`: paho's own (the baseline the issue names), or the project's (common.mqtt.Client:
    the same receiving, read from the socket in large pieces), for a like-for-like ratio."""
    received = [0]
    client = client_class(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda *_: received.__setitem__(0, received[0] + 1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM

    def connect() -> None:
        client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        client.loop_start()

    connect()
    client.subscribe([(t, 1) for t in topics.central_subscriptions("raw")])
    subscribed.wait(10)
    client.disconnect()
    client.loop_stop()
    queue_at_broker(broker, total)
    drain = Drain(total)
    connect()
    drain.sample(lambda: received[0])
    client.disconnect()
    client.loop_stop()
    return drain


def server_cpu_s(store: Store) -> float:
    """CPU (user + system) so far of the PostgreSQL server processes connected to the store's database
    but this look's own: the work the collector hands the database, done outside its process."""
    with store.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalars().all()
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # gone since
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def collector_drain(broker: Broker, store: Store, total: int) -> Drain:
    settings = CentralSettings.model_validate(
        {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "ingest": {"client_id": "bench"},
         "downlink_key": DOWNLINK_SEED}
    )
    store.migrate()
    for site, device in DEVICES:
        store.register_device(device, site, "traffic", KEY.hex())
    with running(Collector(settings, store)) as collector:
        pass  # connect once: the session and its subscription exist from now on
    queue_at_broker(broker, total)
    drain = Drain(total)
    with running(Collector(settings, store)) as collector:
        server = server_cpu_s(store) if store.engine.dialect.name == "postgresql" else 0.0
        drain.sample(lambda: collector.handled)
        if server:
            drain.server_cpu_s = server_cpu_s(store) - server
    return drain


def replicas_drain(broker: Broker, store: Store, total: int, replicas: int) -> Drain:
    """`replicas` collector processes share the subscription; messages counted in central's tally."""
    store.migrate()
    for site, device in DEVICES:
        store.register_device(device, site, "traffic", KEY.hex())
    with _replicas(broker, store, replicas):
        pass  # connect once: each replica's session and subscription exist from now on
    queue_at_broker(broker, total)
    drain = Drain(total)

    def handled() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(sum(handled), 0) FROM collectors")).scalar_one())

    with _replicas(broker, store, replicas):
        drain.sample(handled)
    return drain


@contextmanager
def _replicas(broker: Broker, store: Store, count: int) -> Iterator[None]:
    """Collector processes (central's ingest holds the GIL, so replicas are processes, not threads)."""
    url = store.engine.url.render_as_string(hide_password=False)
    argvs = [[url, str(broker.port), f"bench-replica-{n}", DOWNLINK_SEED] for n in range(count)]
    with child_processes("bench.children.collector", *argvs, wait_s=60):
        yield


@contextmanager
def running(collector: Collector) -> Iterator[Collector]:
    stop = threading.Event()
    thread = threading.Thread(target=collector.run, args=(stop,))
    thread.start()
    if not collector.subscribed.wait(20):
        raise RuntimeError("the collector did not subscribe")
    try:
        yield collector
    finally:
        stop.set()
        thread.join(30)


@contextmanager
def postgres_database(keep: str = "") -> Iterator[str]:
    """A database of its own, dropped afterwards; or, given `keep`, the database of that name, made if it
    is not there yet and left in place (a bench that fills for minutes fills it once)."""
    name = keep or f"bench_central_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), dict(n=name)).first()
        if not (keep and there):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


# the dashboard


def load(store: Store, total: int, days: int = 14) -> None:
    """`total` verdicts of 50 boxes spread over `days`, 1 % flagged, through the ingest path."""
    store.migrate()
    for site, device in DEVICES:
        store.register_device(device, site, "traffic", KEY.hex())
    start = datetime.now(UTC) - timedelta(days=days)
    step = timedelta(days=days) / total
    rng = random.Random(7)
    template = make_verdict(0, 1, *DEVICES[0], start, False)
    flagged_template = make_verdict(0, 1, *DEVICES[0], start, True)
    payload = template.model_dump(mode="json")
    batch = Batch()
    for n in range(total):
        site, device = DEVICES[n % len(DEVICES)]
        flagged = rng.random() < 0.01
        base = flagged_template if flagged else template
        v = base.model_copy(
            update=dict(
                id=uuid.uuid4(), site=site, device=device, seq=n // len(DEVICES) + 1, device_time=start + step * n
            )
        )
        if flagged:
            person = v.inputs.person.model_copy(update={"pseudonym": idnumber.pseudonym(PSEUDONYM_KEY, str(n % 3000))})
            v = v.model_copy(update={"inputs": v.inputs.model_copy(update={"person": person})})
        batch.verdicts.append(verdict_row(v, v.model_dump(mode="json") if flagged else payload, False))
        if len(batch.verdicts) == 5000:
            store.write_batch(batch)
            batch = Batch()
    if batch.verdicts:
        store.write_batch(batch)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # what autovacuum does on a server that has been running


def dashboard_latency(
    store: Store, rounds: int, username: str = "bench", region: str = ROOT
) -> tuple[float, float, dict[str, float]]:
    """p95 of the office's pages and API reads, of /healthz, and per path, for an admin at `region`."""
    import uvicorn

    accounts = Accounts(store.engine)
    accounts.add(username, "bench-password-1", Role.ADMIN, region=region)
    port = free_port()
    settings = CentralSettings.model_validate({"http": {"port": port}})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    today = datetime.now(settings.zone).date()
    paths = [
        "/",
        "/cases",
        "/devices",
        "/figures",
        f"/ledger?site=site-03&day={today - timedelta(days=3)}",
        "/api/verdicts?flagged=true&limit=50",
        "/api/verdicts?site=site-05",
        "/api/verdicts?device=box-07",
        "/api/cases?status=open",
        "/api/devices",
        "/api/devices/box-09/gaps",
        "/api/figures/daily",
        "/api/counts",
    ]
    timings: dict[str, list[float]] = {p: [] for p in [*paths, "/healthz"]}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            token = client.post("/api/session", json={"username": username, "password": "bench-password-1"}).json()
            client.headers["Authorization"] = f"Bearer {token['token']}"
            case_id = client.get("/api/cases?limit=1").json()[0]["id"]
            paths.append(f"/cases/{case_id}")
            timings[paths[-1]] = []
            for path in [*paths, "/healthz"]:  # warm-up: templates and statements compiled once per process
                client.get(path).raise_for_status()
            for _ in range(rounds):
                for path in [*paths, "/healthz"]:
                    t0 = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[path].append((time.perf_counter() - t0) * 1000)
    finally:
        server.should_exit = True
        thread.join(10)
    pages = [t for p, ts in timings.items() if p != "/healthz" for t in ts]
    per_path = {p: percentile(ts, 95) for p, ts in timings.items()}
    return percentile(pages, 95), percentile(timings["/healthz"], 95), per_path


# the run


def plot(drains: dict[str, Drain]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, drain in drains.items():
        t0 = drain.times[0][0]
        points = [(t - t0, n) for t, n in drain.times]
        xs, rates = [], []
        for (ta, na), (tb, nb) in zip(points[::10], points[10::10], strict=False):
            xs.append(tb)
            rates.append((nb - na) / (tb - ta))
        ax.plot(xs, rates, label=f"{name} ({drain.rate:,.0f}/s)")
    ax.set_xlabel("seconds since the first message")
    ax.set_ylabel("messages / s")
    ax.set_title("Draining a backlog: raw paho subscriber vs. collector (ack after commit)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "central_ingest.png", dpi=100)
    plt.close(fig)


ROUNDS = 3  # CPU per message varies by +-15 % from run to run here: the ratio is the median of rounds


def run(quick: bool) -> list[Figure]:
    calm_gc()  # as central's processes run (the bare subscriber's drain runs under it too)
    messages = 20_000 if quick else 100_000
    verdicts = 100_000 if quick else 1_000_000
    figures: list[Figure] = []
    drains: dict[str, Drain] = {}
    rounds: dict[str, list[Drain]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in range(ROUNDS):  # interleaved, so that a slow spell of the machine touches each alike
            for name, client_class in (("raw paho subscriber", mqtt.Client),
                                       ("bare subscriber on the project's client", Client)):
                with Broker(work / f"broker-raw-{n}-{client_class.__module__}") as broker:
                    rounds.setdefault(name, []).append(raw_drain(broker, messages, client_class))
            with Broker(work / f"broker-pg-{n}") as broker, postgres_database() as url:
                store = Store(url)
                rounds.setdefault("collector, PostgreSQL", []).append(collector_drain(broker, store, messages))
                store.dispose()
        for name, runs in rounds.items():
            drains[name] = runs[-1]
        raw = statistics.median(d.rate for d in rounds["raw paho subscriber"])
        with Broker(work / "broker-sqlite") as broker:
            store = Store(f"sqlite:///{work / 'ingest.sqlite'}")
            drains["collector, SQLite"] = collector_drain(broker, store, messages)
            store.dispose()
        with Broker(work / "broker-replicas") as broker, postgres_database() as url:
            store = Store(url)
            drains["collector, PostgreSQL, 2 replicas"] = replicas_drain(broker, store, messages, 2)
            store.dispose()
        plot(drains)
        cpu = {name: statistics.median(d.cpu_per_message_us for d in runs) for name, runs in rounds.items()}
        bare = cpu["raw paho subscriber"]
        every_check = (f"every check: model, signature, registry, revocation, dedupe, cases, counters; receipts; "
                       f"{messages:,} verdicts of {len(DEVICES)} boxes")
        figures.append(Figure(
            bench="central",
            name=f"collector CPU per verdict, PostgreSQL ({every_check}; median of {ROUNDS} rounds, each "
                 f"{', '.join(f'{d.cpu_per_message_us:.0f}' for d in rounds['collector, PostgreSQL'])} µs)",
            value=round(cpu["collector, PostgreSQL"], 1), unit="µs",
            baseline_name=f"bare paho subscriber's CPU per message, same messages (QoS 1, acknowledging; median, "
                          f"each {', '.join(f'{d.cpu_per_message_us:.0f}' for d in rounds['raw paho subscriber'])} µs)",
            baseline=round(bare, 1), higher_is_better=False, target="<= 2 x the bare subscriber",
            met=cpu["collector, PostgreSQL"] <= 2 * bare,
        ))
        figures.append(Figure(
            bench="central",
            name="collector CPU per verdict, PostgreSQL, against a bare subscriber on the project's own MQTT "
                 "client (common.mqtt: reads the socket in large pieces, as the collector does): like for like",
            value=round(cpu["collector, PostgreSQL"], 1), unit="µs",
            baseline_name="bare subscriber on common.mqtt.Client, same messages (median)",
            baseline=round(cpu["bare subscriber on the project's client"], 1), higher_is_better=False,
        ))
        figures.append(Figure(
            bench="central",
            name="PostgreSQL server's CPU per verdict during the collector's drain (its own process: turning "
                 "each batch's document into rows, indexes, WAL; outside the figure above)",
            value=round(statistics.median(d.server_cpu_s / d.total * 1e6 for d in rounds["collector, PostgreSQL"]), 1),
            unit="µs", baseline_name="the collector's own CPU per verdict (median)",
            baseline=round(cpu["collector, PostgreSQL"], 1), higher_is_better=False,
        ))
        sqlite_cpu = drains["collector, SQLite"].cpu_per_message_us
        figures.append(Figure(
            bench="central",
            name=f"collector CPU per verdict, SQLite ({every_check}; the database's own work runs in the "
                 f"collector's process)",
            value=round(sqlite_cpu, 1), unit="µs",
            baseline_name="bare paho subscriber's CPU per message, same messages (median)",
            baseline=round(bare, 1), higher_is_better=False, target="<= 2 x the bare subscriber",
            met=sqlite_cpu <= 2 * bare,
        ))
        for name in ("collector, SQLite", "collector, PostgreSQL", "collector, PostgreSQL, 2 replicas"):
            rate = drains[name].rate
            figures.append(
                Figure(
                    bench="central",
                    name=f"ingest rate, {name.split(', ', 1)[1]}, ack after commit ({messages:,} msgs)",
                    value=round(rate),
                    unit="msgs/s",
                    baseline_name="raw broker rate (paho -> Mosquitto -> paho, QoS 1)",
                    baseline=round(raw),
                    target=">= 0.8 x raw broker rate",
                    met=rate >= 0.8 * raw,
                )
            )
        for label, url_of in (("SQLite", lambda: f"sqlite:///{work / 'dash.sqlite'}"), ("PostgreSQL", None)):
            with postgres_database() if url_of is None else _given(url_of()) as url:
                store = Store(url)
                t0 = time.perf_counter()
                load(store, verdicts)
                loaded_s = time.perf_counter() - t0
                p95, base, per_path = dashboard_latency(store, rounds=10 if quick else 30)
                store.dispose()
            slowest = max(per_path.items(), key=lambda kv: kv[1])
            figures.append(
                Figure(
                    bench="central",
                    name=f"dashboard p95, {verdicts:,} verdicts, {label} (slowest {slowest[0]} {slowest[1]:.0f} ms; "
                    f"loaded in {loaded_s:.0f} s)",
                    value=round(p95, 1),
                    unit="ms",
                    baseline_name="GET /healthz p95 (HTTP, no query)",
                    baseline=round(base, 1),
                    higher_is_better=False,
                    target="p95 < 200 ms",
                    met=p95 < 200,
                )
            )
    return figures


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    if sys.argv[1:2] == ["publish"]:
        publish(int(sys.argv[2]), int(sys.argv[3]))
    else:
        for f in run(quick="--quick" in sys.argv):
            print(
                f"{f.name}: {f.value} {f.unit} (baseline {f.baseline_name}: {f.baseline}; target {f.target}: "
                f"{'met' if f.met else 'NOT met'})"
            )
