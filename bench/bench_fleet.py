"""A province's fleet against one central: 100 → 500 → 2,000 boxes, each a real MQTT 5 client.

For each fleet size: a real Mosquitto (the project's configuration), `checkpoint central` as deployed
over PostgreSQL, as a province runs it (FLEET_DB=sqlite: over SQLite, as a county does; the collector
in its main process, the office's web server in a child), every box registered with its own key, and
the boxes in a few child processes (bench.children.fleet: own connection, client id, persistent
session, retained signed birth, signed will, downlink subscription, verdicts kept until central's
receipt names them). The boxes send 300 verdicts/s in all for the run's length.

Each run's steady part starts once central has stored every box's birth (timed: a figure of its own).
Figures, per size:
- the receipt p95 of the run's second half, while someone reloads the devices page back to back,
  against the first, quiet half's: the office's screens must not slow the collector (target 1.2x);
- central's CPU per stored verdict (the collector process's user+system time over the run / verdicts
  stored), against the smallest fleet's in the same run: the cost per verdict should stay flat as
  boxes are added;
- receipt latency p95 (a box's publish → central's receipt naming it), and of that the arrival p95
  (made on the box → stored at central: boxes and central share this machine's clock), against the
  smallest fleet's;
- the broker's memory per connected box (RSS with the fleet connected minus RSS before), against the
  smallest fleet's;
- the time from an admin's push (POST /api/risk-areas, a quarter into the run: central signs it and
  publishes it retained on the broadcast topic) until every box has it, against the smallest fleet's;
- the devices page and /api/devices p95 over real HTTP (uvicorn, a logged-in session), against
  /healthz on the same server: the office's view of the whole fleet.
Then, at the largest size, an outage (its receipt and arrival figures are the run's first third,
before the outage): a tenth of the boxes disconnect at a third of the run, keep
deciding verdicts, and come back at once after OUTAGE_S; the figure is the time from their return
until central has receipted everything they decided while away, against the outage's length.
And the morning peak: the largest fleet at PEAK times the rate (the seeds' travellers come three times
as fast in the morning), someone reloading the devices page in its second half as in the steady runs:
does central keep up (arrival p95 under a second: verdicts stored as they come, no backlog growing),
and what a verdict costs it, against the same fleet at the steady rate.

Plot: bench/fleet.png. Run: python -m bench.run --only fleet [--quick].
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text

from bench.agent_rig import Device, note, until
from bench.bench_central import postgres_database
from bench.children.fleet import Spec
from bench.harness import DOWNLINK_SEED, ROOT, Figure, child_processes, percentile
from central.auth import Accounts, Role
from central.sql import aware
from central.store import Store
from checkpoint.broker import Broker, free_port

OUT = Path(__file__).parent
RATE = 300.0  # verdicts/s, the whole fleet (about 250 travellers per checkpoint per hour at 4,000 boxes)
PEAK = 3  # the morning peak: three times the rate
BOXES_PER_PROCESS = 500
OUTAGE_S = 60.0


def raise_open_files() -> None:
    """Every box is a socket (here and in the broker): lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def until_online(store: Store, size: int, timeout: float = 300) -> float:
    """Seconds until central has stored every box's birth (all `size` online)."""
    query = text("SELECT count(*) FROM device_status WHERE state = 'online'")

    def all_online() -> bool:
        with store.engine.connect() as conn:
            return bool(conn.execute(query).scalar_one() >= size)

    t0 = time.perf_counter()
    if not until(all_online, timeout, step=0.1):
        raise RuntimeError(f"central stored fewer than {size} births in {timeout:.0f} s")
    return time.perf_counter() - t0


def stored(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM verdicts")).scalar_one())


def arrival_lags(store: Store, made: tuple[datetime, datetime]) -> list[float]:
    """Seconds from a verdict's making (the box's clock: this machine's) to central storing it, for
    verdicts made between `made`'s two times."""
    query = text("SELECT device_time, received_at FROM verdicts WHERE device_time >= :a AND device_time < :b")
    with store.engine.connect() as conn:
        rows = conn.execute(query, {"a": made[0], "b": made[1]}).all()
    return [(aware(at) - aware(made_at)).total_seconds() for made_at, at in rows]


def dead_letters(store: Store) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        return [(r, n) for r, n in conn.execute(text("SELECT reason, count(*) FROM dead_letters GROUP BY reason"))]


class CentralService:
    """`checkpoint central` as deployed — the collector in its main process, the office's web server in
    a child — over the database at `url`, with the fleet registered and an admin to read the pages."""

    def __init__(self, work: Path, broker_port: int, devices: list[Device], url: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.port = free_port()
        self.config = work / "central.yaml"
        self.config.write_text(json.dumps({
            "database_url": self.url, "downlink_key": DOWNLINK_SEED,
            "mqtt": {"host": "127.0.0.1", "port": broker_port}, "http": {"host": "127.0.0.1", "port": self.port},
            "ingest": {"client_id": "central-1"},
        }))
        self.store = Store(self.url)  # the bench's own reads of what central stored
        self.store.migrate()
        for device in devices:
            self.store.register_device(device.name, "bench-site", "traffic", device.key)
        Accounts(self.store.engine).add("bench", "bench-password-1", Role.ADMIN)
        self.log = (work / "central.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "checkpoint", "central", "--config", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if self.http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("central did not become healthy")
        token = self.http.post("/api/session", json={"username": "bench", "password": "bench-password-1"}).json()
        self.http.headers["Authorization"] = f"Bearer {token['token']}"

    def close(self) -> None:
        self.store.dispose()
        self.http.close()
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def page_latency(central: CentralService, rounds: int) -> dict[str, float]:
    """p95 of the office's fleet pages and of /healthz, over real HTTP, after the run."""
    paths = ["/devices", "/api/devices", "/healthz"]
    timings: dict[str, list[float]] = {p: [] for p in paths}
    for path in paths:
        central.http.get(path).raise_for_status()
    for _ in range(rounds):
        for path in paths:
            t0 = time.perf_counter()
            central.http.get(path).raise_for_status()
            timings[path].append((time.perf_counter() - t0) * 1000)
    return {p: percentile(ts, 95) for p, ts in timings.items()}


def reload_back_to_back(central: CentralService, stop: threading.Event) -> int:
    """The heaviest office page, reloaded as fast as it comes, until `stop`: how many times."""
    with httpx.Client(base_url=central.http.base_url, headers=central.http.headers, timeout=60) as client:
        count = 0
        while not stop.is_set():
            client.get("/devices?state=all").raise_for_status()
            count += 1
        return count


def push_later(central: CentralService, delay: float, started: list[float]) -> threading.Thread:
    """An admin pushes the risk areas `delay` seconds from now (a real push: signed, retained, recorded);
    `started` gets the moment the request went out."""

    def push() -> None:
        time.sleep(delay)
        started.append(time.perf_counter())
        central.http.post("/api/risk-areas", json={"regions": ["390100"]}).raise_for_status()

    thread = threading.Thread(target=push, name="push")
    thread.start()
    return thread


@contextmanager
def database(work: Path) -> Iterator[str]:
    """Central's database for one fleet: PostgreSQL, as a province runs it (FLEET_DB=sqlite: a county's)."""
    if os.environ.get("FLEET_DB") == "sqlite":
        yield f"sqlite:///{work / 'central.sqlite'}"
    else:
        with postgres_database() as url:
            yield url


def run_fleet(size: int, seconds: float, outage: float, rate: float = RATE) -> dict[str, Any]:
    note(f"fleet of {size} boxes, {rate:.0f} verdicts/s: starting")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, database(Path(tmp)) as url:
        work = Path(tmp)
        broker = Broker(work / "broker").start()
        try:
            broker_proc = psutil.Process(broker.pid)
            rss_before = broker_proc.memory_info().rss
            devices = [Device(f"fleet-{n:05d}") for n in range(size)]
            central = CentralService(work / "central", broker.port, devices, url)
            try:
                groups = [devices[i:i + BOXES_PER_PROCESS] for i in range(0, size, BOXES_PER_PROCESS)]
                go = work / "go"
                specs = [
                    Spec(port=broker.port, site="bench-site", boxes=[(d.name, d.key) for d in group],
                         rate=rate * len(group) / size, seconds=seconds, go_file=str(go), outage=outage,
                         drain_timeout=max(120.0, 3 * outage))
                    for group in groups
                ]
                with child_processes("bench.children.fleet", *[[s.model_dump_json()] for s in specs],
                                     wait_s=60) as children:
                    note(f"fleet of {size} boxes: all connected")
                    births_s = until_online(central.store, size)  # the steady run starts once they are in
                    note(f"fleet of {size} boxes: every birth stored {births_s:.1f} s after the last box connected")
                    rss_fleet = broker_proc.memory_info().rss
                    collector = psutil.Process(central.proc.pid)  # the main process: the web is a child
                    cpu0 = sum(collector.cpu_times()[:2])
                    stored0 = stored(central.store)
                    go.touch()
                    start = time.perf_counter()
                    busy_from = start + seconds / 2 if not outage else float("inf")
                    # with an outage, the steady figures are those of the first third, before it
                    steady_until = start + seconds / 3 if outage else float("inf")
                    steady = seconds / 3 if outage else 10 * seconds
                    made = (datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=steady))
                    pushed: list[float] = []
                    pusher = push_later(central, seconds / 4, pushed)  # before the outage (a third in)
                    stop_reloading = threading.Event()
                    reloads: list[int] = []
                    if not outage:  # the second half of the run with someone reloading the devices page
                        time.sleep(seconds / 2)
                        reloader = threading.Thread(
                            target=lambda: reloads.append(reload_back_to_back(central, stop_reloading)))
                        reloader.start()
                    results = []
                    for child in children:
                        assert child.stdout is not None
                        results.append(json.loads(child.stdout.readline()))
                    stop_reloading.set()
                    pusher.join()
                    if not outage:
                        reloader.join()
                    cpu = sum(collector.cpu_times()[:2]) - cpu0
                    count = stored(central.store) - stored0
                    lags = arrival_lags(central.store, made)
                    note(f"fleet of {size} boxes: {count} verdicts stored, measuring the pages")
                    pages = page_latency(central, rounds=10 if size > 500 else 20)
                    refused = dead_letters(central.store)
            finally:
                central.close()
        finally:
            broker.stop()
    published = sum(r["published"] for r in results)
    unreceipted = sum(r["unreceipted"] for r in results)
    if unreceipted or count != published:
        raise RuntimeError(f"fleet of {size}: published {published}, stored {count}, unreceipted {unreceipted}; "
                           f"refused by central: {refused}")
    drains = [r["outage_drain_s"] for r in results if r["outage_boxes"]]
    arrivals = [at - pushed[0] for r in results for at in r["pushed_at"]]
    if len(arrivals) != size:
        raise RuntimeError(f"fleet of {size}: the push reached {len(arrivals)} boxes")
    return {
        "size": size,
        "cpu_us": 1e6 * cpu / count,
        "receipt_p95_ms": 1000 * percentile([x for r in results for at, x in r["latencies"] if at < steady_until], 95),
        "quiet_p95_ms": 1000 * percentile([x for r in results for at, x in r["latencies"] if at < busy_from], 95),
        "busy_p95_ms": (1000 * percentile([x for r in results for at, x in r["latencies"] if at >= busy_from], 95)
                        if not outage else None),
        "reloads": reloads[0] if reloads else 0,
        "arrival_p95_ms": 1000 * percentile(lags, 95),
        "broker_kb_per_box": (rss_fleet - rss_before) / 1024 / size,
        "connect_s": max(r["connect_s"] for r in results),
        "births_s": births_s,
        "pages": pages,
        "outage_boxes": sum(r["outage_boxes"] for r in results),
        "outage_verdicts": sum(r["outage_verdicts"] for r in results),
        "outage_drain_s": max(drains) if drains and None not in drains else None,
        "push_all_s": max(arrivals),
        "push_p50_s": percentile(arrivals, 50),
    }


def plot(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    panels = [
        ("central CPU per verdict (µs)", [r["cpu_us"] for r in rows]),
        ("receipt latency p95 (ms)", [r["receipt_p95_ms"] for r in rows]),
        ("broker memory per box (KB)", [r["broker_kb_per_box"] for r in rows]),
        ("push at every box (ms)", [r["push_all_s"] * 1000 for r in rows]),
        ("/devices p95 (ms)", [r["pages"]["/devices"] for r in rows]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 3.2))
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.plot(sizes, values, marker="o")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("boxes")
    fig.suptitle(f"One central, one broker, {RATE:.0f} verdicts/s in all: cost against fleet size")
    fig.tight_layout()
    fig.savefig(OUT / "fleet.png", dpi=100)
    plt.close(fig)


def run(quick: bool) -> list[Figure]:
    raise_open_files()
    sizes = [int(s) for s in os.environ["FLEET_SIZES"].split(",")] if "FLEET_SIZES" in os.environ else (
        [50, 200] if quick else [100, 500, 2000])
    seconds = 10.0 if quick else 30.0
    outage = 10.0 if quick else OUTAGE_S
    # the outage starts a third into the run and must end well before it does
    rows = [run_fleet(size, seconds, 0.0) for size in sizes[:-1]]
    rows.append(run_fleet(sizes[-1], max(seconds, 1.5 * (outage + 10)), outage))
    peak = run_fleet(sizes[-1], seconds, 0.0, PEAK * RATE)
    plot(rows)
    base = rows[0]
    smallest = f"the same at {base['size']} boxes"
    figures: list[Figure] = []
    for row in rows[1:]:
        n = row["size"]
        figures += [
            Figure(bench="fleet", name=f"{n} boxes: central CPU per stored verdict", value=round(row["cpu_us"]),
                   unit="µs", baseline_name=f"{smallest}: {base['cpu_us']:.0f} µs", baseline=round(base["cpu_us"]),
                   higher_is_better=False, target="flat: <= 1.2x the smallest fleet's",
                   met=row["cpu_us"] <= 1.2 * base["cpu_us"]),
            Figure(bench="fleet", name=f"{n} boxes: receipt latency p95 (publish → receipt)",
                   value=round(row["receipt_p95_ms"], 1), unit="ms",
                   baseline_name=f"{smallest}: {base['receipt_p95_ms']:.1f} ms",
                   baseline=round(base["receipt_p95_ms"], 1), higher_is_better=False),
            Figure(bench="fleet", name=f"{n} boxes: arrival p95 (made on the box → stored at central)",
                   value=round(row["arrival_p95_ms"], 1), unit="ms",
                   baseline_name=f"{smallest}: {base['arrival_p95_ms']:.1f} ms",
                   baseline=round(base["arrival_p95_ms"], 1), higher_is_better=False),
            Figure(bench="fleet", name=f"{n} boxes: a push (risk areas) at every box, from the admin's request "
                                        f"(half of them within {row['push_p50_s'] * 1000:.0f} ms)",
                   value=round(row["push_all_s"] * 1000, 1), unit="ms",
                   baseline_name=f"{smallest}: {base['push_all_s'] * 1000:.1f} ms",
                   baseline=round(base["push_all_s"] * 1000, 1), higher_is_better=False),
            Figure(bench="fleet", name=f"{n} boxes: every box's birth stored, from the last box connected",
                   value=round(row["births_s"], 2), unit="s", baseline_name=f"{smallest}: {base['births_s']:.2f} s",
                   baseline=round(base["births_s"], 2), higher_is_better=False),
            Figure(bench="fleet", name=f"{n} boxes: broker memory per connected box",
                   value=round(row["broker_kb_per_box"], 1), unit="KB",
                   baseline_name=f"{smallest}: {base['broker_kb_per_box']:.1f} KB",
                   baseline=round(base["broker_kb_per_box"], 1), higher_is_better=False),
        ]
    for row in rows:
        if row["busy_p95_ms"] is not None:
            figures.append(Figure(
                bench="fleet", name=f"{row['size']} boxes: receipt p95 while /devices is reloaded back to back "
                                    f"({row['reloads']} reloads)",
                value=round(row["busy_p95_ms"], 1), unit="ms", baseline_name="the same run's quiet half",
                baseline=round(row["quiet_p95_ms"], 1), higher_is_better=False, target="<= 1.2x quiet",
                met=row["busy_p95_ms"] <= 1.2 * row["quiet_p95_ms"]))
    for row in rows:
        n, pages = row["size"], row["pages"]
        for path in ("/devices", "/api/devices"):
            figures.append(Figure(
                bench="fleet", name=f"{n} boxes: {path} p95", value=round(pages[path], 1), unit="ms",
                baseline_name="GET /healthz on the same server", baseline=round(pages["/healthz"], 1),
                higher_is_better=False, target="p95 < 200 ms", met=pages[path] < 200))
    last = rows[-1]
    if last["outage_drain_s"] is not None:
        figures.append(Figure(
            bench="fleet",
            name=f"{last['size']} boxes: {last['outage_boxes']} away for {outage:.0f} s, back at once: "
                 f"their {last['outage_verdicts']} verdicts receipted within",
            value=round(last["outage_drain_s"], 2), unit="s", baseline_name="the outage's length",
            baseline=outage, higher_is_better=False, target="nothing lost", met=True))
    steady = rows[-1]
    figures += [
        Figure(bench="fleet", name=f"{peak['size']} boxes at the morning peak ({PEAK * RATE:.0f} verdicts/s): arrival "
                                   "p95 (made on the box → stored at central)",
               value=round(peak["arrival_p95_ms"], 1), unit="ms",
               baseline_name=f"the same fleet at {RATE:.0f} verdicts/s (its outage run, before the outage): "
                             f"{steady['arrival_p95_ms']:.1f} ms",
               baseline=round(steady["arrival_p95_ms"], 1), higher_is_better=False,
               target="p95 < 1 s: central keeps up", met=peak["arrival_p95_ms"] < 1000),
        Figure(bench="fleet", name=f"{peak['size']} boxes at the morning peak: receipt p95, quiet half / while "
                                   f"/devices is reloaded ({peak['reloads']} reloads)",
               value=round(peak["busy_p95_ms"], 1), unit="ms", baseline_name="the same run's quiet half",
               baseline=round(peak["quiet_p95_ms"], 1), higher_is_better=False, target="<= 1.2x quiet",
               met=peak["busy_p95_ms"] <= 1.2 * peak["quiet_p95_ms"]),
        Figure(bench="fleet", name=f"{peak['size']} boxes at the morning peak: central CPU per stored verdict",
               value=round(peak["cpu_us"]), unit="µs",
               baseline_name=f"the same fleet at {RATE:.0f} verdicts/s (its outage run): {steady['cpu_us']:.0f} µs",
               baseline=round(steady["cpu_us"]), higher_is_better=False),
    ]
    note("rows: " + json.dumps([*rows, peak]))
    return figures


if __name__ == "__main__":
    for figure in run(quick=True):
        print(figure.model_dump_json())
