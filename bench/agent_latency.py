"""The agent benchmark's latencies: input complete -> verdict shown (a Station alone) and input
complete -> PUBACK (the whole agent against a real broker and collector), each beside its baseline."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from agent.config import AgentSettings
from agent.healthcode.chain import build_chain
from agent.kiosk.state import KioskState, LinkView
from agent.outbox import Outbox
from agent.passage import BoxIdentity, PassageMachine
from agent.station import Lists, Recorder, Station
from bench.agent_inputs import ISSUER, passages
from bench.agent_rig import POLICY, PSEUDONYM_KEY, Device, Probe, agent_running, box_settings, note, until
from bench.harness import percentile
from common.mqtt import MqttSettings, new_client
from contract.messages import CheckpointKind


def verdict_shown(tmp: Path, n: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) from the last input to the `on_state` call with the new verdict, for a real
    Station (outbox on disk, recorder, health-code chain); and the baseline, `Outbox.append` alone."""
    outbox = Outbox(tmp / "outbox.sqlite").open(new_boot=True)
    identity = BoxIdentity("bench-site", "bench-shown", CheckpointKind.TRAFFIC, bytes.fromhex(PSEUDONYM_KEY))
    recorder = Recorder(identity, secrets.token_bytes(32), outbox, lambda: POLICY, Lists())
    chain = build_chain(ISSUER.settings)
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
        started = passages(station.submit, lambda: len(shown_at), n, commit_alone, 0.02)
    finally:
        stop.set()
        thread.join()
        outbox.close()
        bare.close()
    shown = [1000 * (s - t) for s, t in zip(shown_at, started, strict=True)]
    note(f"verdict shown: median {percentile(shown, 50):.2f} ms; commit alone {percentile(commit, 50):.2f} ms")
    return shown, commit


def puback(tmp: Path, port: int, device: Device, n: int, gap: float) -> tuple[list[float], int]:
    """Latencies (ms) from the last input to the verdict's PUBACK, and the verdicts' payload size;
    `gap` s between one verdict's PUBACK and the next traveller."""
    settings = AgentSettings(**box_settings(tmp, port, device, healthcode=ISSUER.settings))
    probe = Probe()
    started: list[float] = []
    done = threading.Event()

    def script(station: Station, stop: threading.Event) -> None:
        until(lambda: bool(probe.connected_at) or stop.is_set(), 15.0, 0.01)
        time.sleep(0.5)  # the birth and the subscriptions settle
        try:
            started.extend(
                passages(
                    station.submit,
                    lambda: station.shown,
                    n,
                    lambda i: until(lambda: probe.verdict_acks() > i, 5.0, 0.001),
                    gap,
                )
            )
        finally:
            done.set()

    with agent_running(settings, probe, script):
        done.wait(600)
    acks = probe.first_puback_by_seq()
    latencies = [1000 * (acks[seq] - t) for seq, t in enumerate(started, start=1) if seq in acks]
    if len(latencies) != n:
        note(f"PUBACK seen for {len(latencies)} of {n} verdicts")
    size = len(next(iter(probe.verdict_payloads.values())))
    note(f"PUBACK (gap {gap} s): median {percentile(latencies, 50):.2f} ms, p95 {percentile(latencies, 95):.2f} ms")
    return latencies, size


def raw_round_trips(port: int, size: int, n: int) -> list[float]:
    """The baseline of `puback`: a bare paho QoS 1 publish of `size` bytes to the same broker (ms)."""
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
            until(lambda mid=mid: mid in acked, 5.0)  # type: ignore[misc]
            times.append(1000 * (acked[mid] - t0))
            time.sleep(0.05)  # nothing comes back but PUBACKs here, so the gap does not matter
    finally:
        client.disconnect()
        client.loop_stop()
    note(f"bare paho ({size} B): median {percentile(times, 50):.2f} ms, p95 {percentile(times, 95):.2f} ms")
    return times
