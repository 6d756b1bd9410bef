"""The agent benchmark's memory and idle CPU: `checkpoint agent` in a child process, sampled with
psutil, with the simulated station (the camera size set in agent.yaml, as any box sets it) and as
deployed (`--config` alone: the reader and thermometer simulators in another process, a recorded clip
as its camera); beside an interpreter that only imports the camera path's libraries, and beside the
simulators alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import psutil
import yaml

from agent.config import render as agent_yaml
from bench.agent_inputs import ISSUER
from bench.agent_rig import Central, Device, box_settings, note
from bench.harness import ROOT, child_processes
from common.mqtt import MqttSettings, new_client
from contract.messages import CodeColour

FPS = 8  # the camera's frame rate in every run here


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


def resources(
    tmp: Path, port: int, central: Central, boxes: dict[str, Device], busy_s: float, idle_s: float
) -> Resources:
    listener = MetricsListener(port)
    rig = Rig(port, central, listener)
    try:
        busy = rig.simulated(tmp / "busy", boxes["busy"], "1280×720, 60 passages/min", busy_s, 60.0, (1280, 720))
        cli = rig.simulated(tmp / "cli", boxes["cli"], "CLI as shipped, 640×480", busy_s / 2, 60.0, None)
        idle = rig.simulated(tmp / "idle", boxes["idle"], "1280×720, nobody", idle_s, 0.01, (1280, 720))
        deployed = rig.deployed(tmp / "deployed", boxes["deployed"], "as deployed, 1280×720 clip", busy_s)
    finally:
        listener.close()
    floor = import_floor_mb()
    simulators, scene_mb = simulators_alone(tmp / "sims", port, idle_s)
    note(f"import floor {floor:.0f} MB; simulators alone {simulators:.1f} % of a core; phone scene {scene_mb:.0f} MB")
    return Resources(busy, cli, idle, deployed, floor, simulators)


def box_config(
    workdir: Path, port: int, device: Device, per_minute: float, size: tuple[int, int] | None = None
) -> Path:
    """agent.yaml for a box with the simulated station; `size`: its camera's (none: the simulation's 640×480)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "agent.yaml"
    simulation = {"mode": "devices", "passages_per_minute": per_minute, "seed": 1, "workdir": str(workdir / "dev")}
    camera = {} if size is None else {"camera": {"width": size[0], "height": size[1], "fps": FPS}}
    data = box_settings(workdir, port, device, metrics_interval_s=2, simulation=simulation, **camera)
    config.write_text(agent_yaml(data))  # the agent's own builder, validated
    return config


@dataclass
class Rig:
    """Starts `checkpoint agent` as a child process and samples it."""

    port: int
    central: Central
    listener: MetricsListener

    def simulated(
        self, workdir: Path, device: Device, label: str, seconds: float, per_minute: float, size: tuple[int, int] | None
    ) -> Sampled:
        """`checkpoint agent --simulate`, its camera `size` set in agent.yaml (None: the CLI as shipped).
        RSS every 0.25 s from the start; CPU over `seconds` after a warm-up."""
        config = box_config(workdir, self.port, device, per_minute, size)
        args = [sys.executable, "-m", "checkpoint", "agent", "--config", str(config), "--simulate"]
        return self._sampled(workdir, device, label, seconds, args)

    def deployed(self, workdir: Path, device: Device, label: str, seconds: float) -> Sampled:
        """`checkpoint agent --config`: simulators in another process, a rendered clip as the camera."""
        config = box_config(workdir, self.port, device, 0.01)
        with child_processes("bench.children.station_devices", [str(config)], wait_s=15) as (sims,):
            assert sims.stdout is not None
            reader, protocol, thermometer = sims.stdout.readline().split()
            data = yaml.safe_load(config.read_text())
            del data["simulation"]
            data.update(
                idcard={"port": reader},
                thermo={"protocol": protocol, "port": thermometer},
                camera={"source": str(clip(workdir / "camera.avi")), "width": 1280, "height": 720, "fps": FPS},
            )
            config.write_text(agent_yaml(data))
            args = [sys.executable, "-m", "checkpoint", "agent", "--config", str(config)]
            return self._sampled(workdir, device, label, seconds, args)

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
        note(
            f"{label}: max RSS {sampled.max_rss_mb:.0f} MB, CPU {cpu:.1f} %, decode {sampled.decode_fps} fps, "
            f"{sampled.verdicts} passages, central holds {self.central.stored(device.name)}"
        )
        return sampled


def clip(path: Path, seconds: float = 20.0) -> Path:
    """A 1280x720 MJPEG clip of the phone scene: a signed green code held up for 3 s, 2 s of nobody."""
    from drivers.camera.scene import PhoneScene

    scene = PhoneScene(seed=5)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (1280, 720))
    try:
        for frame in range(int(seconds * FPS)):
            at = (frame / FPS) % 5.0
            if at == 0:
                scene.show(ISSUER.text(frame), CodeColour.GREEN)
            elif 3.0 <= at < 3.0 + 1 / FPS:
                scene.clear()
            writer.write(scene.render(1280, 720))
    finally:
        writer.release()
    return path


def import_floor_mb() -> float:
    """The RSS of an interpreter that imports cv2, numpy, zxingcpp and pyzbar (bench.children.import_floor)."""
    with child_processes("bench.children.import_floor", []) as (child,):
        return float(psutil.Process(child.pid).memory_info().rss / 1e6)


def simulators_alone(workdir: Path, port: int, seconds: float) -> tuple[float, float]:
    """CPU (% of a core) of the simulators in a process of their own, and the MB the phone scene
    took when it first rendered at 1280x720 (its cached noise frames: simulation only)."""
    config = box_config(workdir, port, Device("bench-sims"), 0.01)
    with child_processes("bench.children.station_devices", [str(config), "--render", "1280", "720"], wait_s=15) as (
        child,
    ):
        assert child.stdout is not None
        child.stdout.readline()  # the ports, for an agent; none here
        scene_mb = float(child.stdout.readline())
        time.sleep(1)
        process = psutil.Process(child.pid)
        c0, t0 = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = process.cpu_times(), time.monotonic()
    return 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0), scene_mb
