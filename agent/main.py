"""Entry point of `checkpoint agent`: settings, logging, signals, the devices, then `Agent.run`."""

from __future__ import annotations

import functools
import signal
import threading
from pathlib import Path

from agent import direct_station
from agent.app import Agent, AgentFailed, Script
from agent.config import AgentSettings, load
from common import logs


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
        script: Script = functools.partial(direct_station.run, per_minute=sim.passages_per_minute, seed=sim.seed)
        Agent(agent_settings, script=script).run(stop, agent_settings.drain_timeout_s)
    else:
        from agent.simulated_station import SimulatedStation

        with SimulatedStation(agent_settings) as station:
            wired = station.wire(agent_settings)
            Agent(wired, station.devices(wired), script=station.run).run(stop, agent_settings.drain_timeout_s)
