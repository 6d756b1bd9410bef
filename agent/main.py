"""Entry point of `checkpoint agent`: settings, logging, signals, then `Agent.run`."""

from __future__ import annotations

import functools
import signal
import threading
from pathlib import Path

from agent import direct_station
from agent.app import Agent
from agent.config import AgentSettings
from checkpoint import logs, settings


def main(config: Path | None, simulate: bool) -> None:
    agent_settings = settings.load(AgentSettings, config)
    logs.setup(component=f"agent:{agent_settings.device}")
    if not simulate:
        raise settings.ConfigError("only --simulate stations exist in this build: give --simulate")
    sim = agent_settings.simulation
    loop = functools.partial(direct_station.run, per_minute=sim.passages_per_minute, seed=sim.seed)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Agent(agent_settings, loop).run(stop)
