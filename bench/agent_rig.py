"""The rig the agent benchmark (bench_agent.py) stands on: boxes and their settings, central's
collector in a child process, and the whole agent in a thread of this process with a timed link.

The link is timed through the agent's own injection point, `Agent(..., link_class=...)`: a subclass
of agent.link.Link that notes when each CONNACK and PUBACK arrives in paho's callbacks, so that the
latencies are read where the agent itself learns of them.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from agent.app import Agent, Script
from agent.config import AgentSettings
from agent.link import Link
from agent.policy import DEFAULT_POLICY, Policy
from bench.harness import CENTRAL_KEY, DOWNLINK_SEED, child_processes
from central.store import Store

POLICY = Policy.from_yaml(DEFAULT_POLICY)
PSEUDONYM_KEY = secrets.token_hex(32)  # every bench box's: verdicts carry pseudonyms, never ID numbers

_T0 = time.monotonic()


def note(text: str) -> None:
    """A progress line on stderr (the runner keeps stdout for the figures)."""
    print(f"bench [{time.monotonic() - _T0:5.1f} s]: {text}", file=sys.stderr, flush=True)


def until(predicate: Callable[[], bool], timeout: float, step: float = 0.0005) -> bool:
    """Poll `predicate` every `step` s: a latency is read from the callbacks' own stamps, not from here."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@dataclass
class Device:
    """A bench box, registered with central under its own signing key."""

    name: str
    key: str = field(default_factory=lambda: secrets.token_hex(32))


def box_settings(workdir: Path, port: int, device: Device, **extra: Any) -> dict[str, Any]:
    """A box's agent.yaml as data, its files under `workdir`, talking to the broker on `port`."""
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
        self.verdict_payloads: dict[int, bytes] = {}  # mid -> payload, parsed only afterwards

    def link_class(self) -> type[Link]:
        """The agent's Link, noting the times in its paho callbacks before doing what it always does."""
        probe = self

        class TimedLink(Link):
            def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, replayed: bool = False) -> int:
                mid = super().publish(topic, payload, retain=retain, replayed=replayed)
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


@contextmanager
def agent_running(settings: AgentSettings, probe: Probe, script: Script | None = None) -> Iterator[Agent]:
    """The whole agent in a thread of this process, its link timed by `probe`; on leaving, it stops
    in order (draining its outbox for up to 10 s)."""
    stop = threading.Event()
    box = Agent(settings, script=script, link_class=probe.link_class())
    thread = threading.Thread(target=box.run, args=(stop,), kwargs={"drain_timeout_s": 10.0}, name="agent")
    thread.start()
    try:
        yield box
    finally:
        stop.set()
        thread.join()
