"""The simulated station's devices in a process of their own.

    python -m bench.children.station_devices AGENT_YAML [--render WIDTH HEIGHT]

Starts the ID-card reader and thermometer simulators on their ptys (agent.simulated_station, from the
box's `simulation` settings), prints `ready`, then the line `READER_PORT THERMO_PROTOCOL THERMO_PORT`
for an agent run with `--config` to read. With `--render`, it also renders the phone scene at
WIDTH x HEIGHT, 8 frames a second, as the simulated camera would (the simulators' own CPU: the
baseline of the agent's idle CPU), and prints a third line: the MB the scene took when it first
rendered (its cached noise frames, simulation only). Runs until its stdin closes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

from agent.config import AgentSettings
from agent.simulated_station import SimulatedStation
from bench.children import ready, stdin_closed
from common import settings

FPS = 8.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--render", nargs=2, type=int, metavar=("WIDTH", "HEIGHT"))
    args = parser.parse_args()
    box = settings.load(AgentSettings, args.config)
    stop = stdin_closed()
    with SimulatedStation(box) as station:
        wired = station.wire(box)
        scene_mb = None
        if args.render:
            before = psutil.Process().memory_info().rss
            station.scene.render(*args.render)
            scene_mb = (psutil.Process().memory_info().rss - before) / 1e6
        assert wired.idcard is not None and wired.thermo is not None
        ready()
        print(wired.idcard.port, wired.thermo.protocol, wired.thermo.port, flush=True)
        if args.render is None:
            stop.wait()
            return
        print(scene_mb, flush=True)
        next_at = time.monotonic()
        while not stop.is_set():
            station.scene.render(*args.render)
            next_at += 1 / FPS
            stop.wait(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
