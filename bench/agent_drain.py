"""The agent benchmark's outbox drain after an outage: verdicts recorded while no broker was
reachable, then the agent started against broker and collector, timed from CONNACK until the outbox
is empty; beside paho publishing the same payloads to a plain paho subscriber."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.config import AgentSettings
from agent.direct_station import facts_of
from agent.outbox import Outbox
from agent.passage import BoxIdentity
from agent.station import Lists, Recorder
from agent.travellers import TravellerMix
from bench.agent_rig import POLICY, PSEUDONYM_KEY, Central, Device, Probe, agent_running, box_settings, note, until
from bench.harness import child_processes
from common.mqtt import MqttSettings, new_client
from contract.messages import CheckpointKind

WINDOW = 500  # agent.link.Publisher's default in-flight window


class CpuMeter:
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
class Drain:
    n: int
    rate: float  # rows deleted per second, from CONNACK to empty
    puback_rate: float
    depth: list[tuple[float, int]]  # (s since CONNACK, rows left)
    acks: list[float]  # s since CONNACK of each verdict's PUBACK
    payloads: list[bytes]
    agent_cpu_us: float  # this process (the agent) from CONNACK to empty, per verdict
    central_cpu_us: float  # the collector's process, same span


def fill(path: Path, device: Device, n: int) -> list[bytes]:
    """N signed verdicts committed while no broker is reachable (fsync off for the fill only)."""
    outbox = Outbox(path).open(new_boot=True)
    outbox.db.execute("PRAGMA synchronous=OFF")
    identity = BoxIdentity("bench-site", device.name, CheckpointKind.TRAFFIC, bytes.fromhex(PSEUDONYM_KEY))
    recorder = Recorder(identity, bytes.fromhex(device.key), outbox, lambda: POLICY, Lists())
    mix = TravellerMix(7)
    facts = [facts_of(mix.next(), POLICY) for _ in range(500)]
    for i in range(n):
        recorder.record(facts[i % len(facts)])
    payloads = [row.payload for row in outbox.pending(limit=n)]
    flagged = sum(row.flagged for row in outbox.pending(limit=n))
    outbox.close()
    note(f"drain: {n} verdicts recorded offline ({flagged} flagged), {sum(map(len, payloads)) / n:.0f} B each")
    return payloads


def drain(tmp: Path, port: int, central: Central, device: Device, n: int) -> Drain:
    payloads = fill(tmp / "outbox.sqlite", device, n)
    settings = AgentSettings(**box_settings(tmp, port, device))
    probe = Probe()
    depth: list[tuple[float, int]] = []
    with sqlite3.connect(tmp / "outbox.sqlite") as watch, agent_running(settings, probe):
        until(lambda: bool(probe.connected_at), 15.0, 0.005)
        t0 = probe.connected_at[0]
        cpu = CpuMeter(os.getpid(), central.pid)
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
    note(
        f"drain: outbox empty after {emptied:.2f} s, last PUBACK at {acks[-1]:.2f} s, central holds {stored}; "
        f"CPU agent {agent_s:.1f} s, collector {central_s:.1f} s"
    )
    return Drain(n, n / emptied, n / acks[-1], depth, acks, payloads, 1e6 * agent_s / n, 1e6 * central_s / n)


@dataclass
class RawDrain:
    rate: float
    puback_rate: float
    acks: list[float]
    received_at: float
    publisher_cpu_us: float
    subscriber_cpu_us: float


def raw_drain(port: int, payloads: list[bytes]) -> RawDrain:
    """The baseline: paho publishing `payloads` with the publisher's window to a plain paho subscriber
    in a child process (bench.children.raw_subscriber)."""
    acked: list[float] = []
    client = new_client(MqttSettings(port=port), client_id="bench-raw-drain")
    client.max_inflight_messages_set(WINDOW)
    client.on_publish = lambda *_: acked.append(time.monotonic())
    with child_processes("bench.children.raw_subscriber", [str(port), str(len(payloads))], wait_s=30) as (sub,):
        assert sub.stdout is not None
        client.connect("127.0.0.1", port)
        client.loop_start()
        try:
            cpu = CpuMeter(os.getpid(), sub.pid)
            t0 = time.monotonic()
            for i, payload in enumerate(payloads):
                client.publish(f"bench/drain/{i % 4}", payload, qos=1)
            received = float(sub.stdout.readline().split()[1]) - t0
            until(lambda: len(acked) >= len(payloads), 30.0)
            publisher_s, subscriber_s = cpu.seconds()
        finally:
            client.disconnect()
            client.loop_stop()
    acks = [a - t0 for a in acked]
    n = len(payloads)
    note(
        f"raw drain: all received after {received:.2f} s, last PUBACK at {acks[-1]:.2f} s; "
        f"CPU publisher {publisher_s:.1f} s, subscriber {subscriber_s:.1f} s"
    )
    return RawDrain(n / received, n / acks[-1], acks, received, 1e6 * publisher_s / n, 1e6 * subscriber_s / n)
