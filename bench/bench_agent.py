"""The edge agent (issue 6): verdict latency, outbox drain after an outage, memory and idle CPU.

Five measurements, each beside a baseline taken in the same run:

1. input complete -> verdict shown: a real `Station` (real outbox on disk, recorder, health-code
   chain) fed driver events; timed from submitting the last input (the temperature) to the
   `on_state` call carrying the new verdict. Baseline: `Outbox.append` of the same payload alone
   (the fsync every verdict needs), between travellers so the shared disk is as busy for both.
   Target p95 < 20 ms.
2. input complete -> PUBACK: the whole `agent.app.Agent` in-process against a real Mosquitto and a
   real central collector; PUBACK times are read in the link's paho callback (a subclass of
   `agent.link.Link`, given to the agent as its `link_class`). Travellers 0.2 s apart, then 0.1 s
   apart (central's receipt for one verdict arrives just before the next; the agent sets
   TCP_NODELAY on its socket, so neither waits for a delayed ACK). Baseline: a bare paho QoS 1
   publish of a payload of the same size to the same broker. Target p95 < 50 ms.
3. outbox drain after an outage: N signed verdicts recorded while no broker was reachable, then
   the agent started against broker + collector (a child process, SQLite store); timed from the
   link's CONNACK until the outbox is empty (rows go only on central's receipts); the PUBACK rate
   too. Baseline: paho publishing the same payloads with the publisher's in-flight window (500)
   to a plain paho subscriber in a child process. Target >= 2,000 verdicts/s.
4. memory: `checkpoint agent --simulate` (device simulators + real drivers in the agent's process)
   with its camera set to 1280x720 in agent.yaml, sampled with psutil; the CLI with no camera
   configured (the simulation's 640x480) too. And the box as deployed: `checkpoint agent --config`
   (no simulation code in the process) with the reader and thermometer simulators on ptys in
   another process and, as its camera, a 1280x720 clip of the phone scene read through OpenCV (a
   recorded clip stands in for a camera). Baseline: an interpreter that imports cv2, numpy,
   zxingcpp and pyzbar. Target < 150 MB.
5. idle CPU: `checkpoint agent --simulate` at 1280x720 with one passage expected every ~6,000 s
   (nobody at the station); baseline: the simulators alone in a process (reader and thermometer on
   their ptys, the phone scene rendered at the camera's size and rate), which the agent process
   also carries.

The parts: agent_rig.py (boxes, central's collector, the agent with a timed link), agent_inputs.py
(a traveller's inputs), agent_latency.py (1, 2), agent_drain.py (3), agent_resources.py (4, 5),
agent_plots.py; the child processes are modules in bench/children/.

Plots: bench/agent_latency.png, bench/agent_drain.png, bench/agent_resources.png.
Run: python -m bench.run --only agent [--quick]; or python -m bench.bench_agent [--full].
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import agent_plots
from bench.agent_drain import drain, raw_drain
from bench.agent_latency import puback, raw_round_trips, verdict_shown
from bench.agent_resources import resources
from bench.agent_rig import Central, Device
from bench.harness import Figure, percentile
from checkpoint.broker import Broker

BENCH = "agent"
GAP_S = 0.2  # between travellers after the PUBACK: central's receipt (batch_wait_ms 50) comes in this time
BUSY_GAP_S = 0.1  # travellers back to back: the receipt of one verdict arrives just before the next verdict


def run(quick: bool) -> list[Figure]:
    passages = 150 if quick else 1000  # input complete -> verdict shown
    published = 40 if quick else 400  # input complete -> PUBACK, each of two ways
    drain_n = 5_000 if quick else 20_000
    busy_s, idle_s = (8.0, 6.0) if quick else (45.0, 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp_name:
        tmp = Path(tmp_name)
        shown, commit = verdict_shown(tmp / "shown", passages)
        boxes = {
            name: Device(f"bench-{name}")
            for name in ("puback", "busy-puback", "drain", "busy", "cli", "idle", "deployed")
        }
        with (
            Broker(tmp / "broker") as broker,
            Central(tmp / "central", broker.port, list(boxes.values())) as central,
        ):
            apart, size = puback(tmp / "puback", broker.port, boxes["puback"], published, GAP_S)
            busy, _ = puback(tmp / "busy-puback", broker.port, boxes["busy-puback"], published, BUSY_GAP_S)
            raw = raw_round_trips(broker.port, size, published)
            drained = drain(tmp / "drain", broker.port, central, boxes["drain"], drain_n)
            raw_drained = raw_drain(broker.port, drained.payloads)
            used = resources(tmp / "boxes", broker.port, central, boxes, busy_s, idle_s)
    agent_plots.latency(shown, commit, {"agent": apart, "agent, 0.1 s apart": busy}, raw)
    agent_plots.drain(drained, raw_drained)
    agent_plots.resources(used)
    return [
        *_latency_figures("input complete → verdict shown", shown, "Outbox.append alone (fsync)", commit, 20.0),
        *_latency_figures("input complete → PUBACK", apart, "bare paho QoS 1 publish, same size", raw, 50.0),
        _latency_figures(
            "input complete → PUBACK, travellers 0.1 s apart (receipts interleave)",
            busy,
            "bare paho QoS 1 publish, same size",
            raw,
            50.0,
        )[1],
        Figure(
            bench=BENCH,
            name=f"outbox drain after an outage ({drained.n:,} verdicts, rows deleted on central's receipts)",
            value=drained.rate,
            unit="verdicts/s",
            baseline_name="paho → paho subscriber, same payloads, window 500",
            baseline=raw_drained.rate,
            target="≥ 2,000 verdicts/s",
            met=drained.rate >= 2000,
        ),
        *(
            Figure(bench=BENCH, name=name, value=v, unit=unit, baseline_name=b_name, baseline=b, higher_is_better=up)
            for name, v, unit, b_name, b, up in (
                (
                    "outbox drain: PUBACK rate (broker-level)",
                    drained.puback_rate,
                    "verdicts/s",
                    "paho publisher's PUBACK rate, same window",
                    raw_drained.puback_rate,
                    True,
                ),
                (
                    "outbox drain: agent CPU per verdict",
                    drained.agent_cpu_us,
                    "µs",
                    "bare paho publisher, per message",
                    raw_drained.publisher_cpu_us,
                    False,
                ),
                (
                    "outbox drain: central collector CPU per verdict",
                    drained.central_cpu_us,
                    "µs",
                    "bare paho subscriber, per message",
                    raw_drained.subscriber_cpu_us,
                    False,
                ),
            )
        ),
        _rss(
            "agent max RSS, `checkpoint agent --simulate`, camera 1280×720 (set in agent.yaml)",
            used.busy.max_rss_mb,
            used.floor_mb,
            "< 150 MB",
            used.busy.max_rss_mb < 150,
        ),
        _rss(
            "agent max RSS as deployed: `checkpoint agent --config`, camera 1280×720 (a rendered clip through "
            "OpenCV), reader and thermometer simulators in another process",
            used.deployed.max_rss_mb,
            used.floor_mb,
            "< 150 MB",
            used.deployed.max_rss_mb < 150,
        ),
        _rss(
            "agent max RSS, `checkpoint agent --simulate`, no camera configured (640×480)",
            used.cli.max_rss_mb,
            used.floor_mb,
        ),
        Figure(
            bench=BENCH,
            name="agent idle CPU, devices connected, nobody at the station (camera 1280×720 @ 8 fps)",
            value=used.idle.cpu_percent,
            unit="% of a core",
            baseline_name="the simulators alone (ptys + phone scene rendered at 1280×720, 8 fps)",
            baseline=used.simulators_cpu,
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


if __name__ == "__main__":
    for f in run(quick="--full" not in sys.argv):
        print(f"{f.name}: {f.value:,.3g} {f.unit} | {f.baseline_name}: {f.baseline:,.3g} | {f.target} {f.met}")
