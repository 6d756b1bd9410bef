"""`checkpoint supervise`: runs the agent of the release `current` links to, and switches releases.

The thin shell around agent.switch: it turns what happens (the agent exited, the agent asked for a
switch, the release on trial wrote its health mark, the deadline passed) into events, and carries
out the machine's actions in order, persisting the state first. It stays small and rarely changes:
systemd runs it (deploy/systemd/checkpoint-agent.service), and it outlives every switch. It speaks
systemd's notify protocol itself (ready once an agent runs, the watchdog while one runs), since its
agents come and go; they are started without NOTIFY_SOCKET.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from agent.config import HEALTH_DEADLINE_S, RELEASES_ROOT, load
from agent.switch import (
    Action,
    AgentExited,
    ArmDeadline,
    DeadlinePassed,
    Event,
    Healthy,
    Link,
    Persist,
    Prune,
    Say,
    StartAgent,
    Started,
    StopAgent,
    SwitchRequested,
    SwitchState,
    step,
)
from agent.update import Layout
from common import logs, sdnotify
from common.backoff import Backoff
from common.settings import ConfigError

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 60.0  # an agent asked to stop drains for at most its drain_timeout_s; one still there is killed


class Supervisor:
    def __init__(self, layout: Layout, agent_args: list[str], deadline_s: float) -> None:
        self.layout = layout
        self._args = agent_args
        self._deadline_s = deadline_s
        self._child: subprocess.Popen[bytes] | None = None
        self._deadline: float | None = None
        self._restarts = Backoff(first=1.0, cap=30.0)
        self._started_at = 0.0
        self._stopping_since: float | None = None

    def run(self, stop: threading.Event) -> None:
        linked = self.layout.linked()
        state = self.layout.state() or SwitchState(current=linked)
        state = self._do(state, Started(linked=linked), stop)
        while not stop.is_set():
            event = self._next_event(state, stop)
            if event is not None:
                state = self._do(state, event, stop)
        sdnotify.stopping()
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()  # the agent drains its outbox, then exits
            self._child.wait()
        log.info("supervisor stopped", extra={"release": state.current})

    def _next_event(self, state: SwitchState, stop: threading.Event) -> Event | None:
        child = self._child
        sdnotify.watchdog()  # this loop turns: a switch or a restart is under way, or an agent runs
        if child is not None:
            try:
                code = child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if self._stopping_since is not None and time.monotonic() - self._stopping_since > STOP_TIMEOUT_S:
                    log.error("the agent did not stop when asked: killing it", extra={"pid": child.pid})
                    child.kill()
            else:
                self._child = self._stopping_since = None
                return AgentExited(code)
        else:
            stop.wait(0.2)
        if self.layout.request.exists():
            version = self.layout.request.read_text().strip()
            self.layout.request.unlink()
            return SwitchRequested(version)
        if state.target is not None and (self.layout.health / state.target).exists():
            return Healthy(state.target)
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._deadline = None
            return DeadlinePassed()
        return None

    def _do(self, state: SwitchState, event: Event, stop: threading.Event) -> SwitchState:
        nxt, actions = step(state, event)
        for action in actions:
            self._act(action, stop)
        return nxt

    def _act(self, action: Action, stop: threading.Event) -> None:
        if isinstance(action, Persist):
            self.layout.save(action.state)
            if action.state.target is None:
                self._deadline = None
        elif isinstance(action, Link):
            self.layout.link(action.version)
        elif isinstance(action, StartAgent):
            self._start(action.version, stop)
        elif isinstance(action, StopAgent):
            if self._child is not None:
                self._child.terminate()
                self._stopping_since = time.monotonic()
        elif isinstance(action, ArmDeadline):
            self._deadline = time.monotonic() + self._deadline_s
        elif isinstance(action, Prune):
            self._prune(set(action.keep))
        elif isinstance(action, Say):
            log.info(action.text)

    def _start(self, version: str, stop: threading.Event) -> None:
        if time.monotonic() - self._started_at < 60:  # exiting again soon after its start: wait longer each time
            stop.wait(self._restarts.next_delay())
        else:
            self._restarts.reset()
        (self.layout.health / version).unlink(missing_ok=True)  # a release proves itself anew each start
        self._started_at = time.monotonic()
        program = self.layout.current / "bin" / "checkpoint"
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self._child = subprocess.Popen([str(program), "agent", *self._args], env=env)
        sdnotify.ready(f"agent of {version} started")
        log.info("agent started", extra={"release": version, "pid": self._child.pid})

    def _prune(self, keep: set[str]) -> None:
        """Remove the releases and downloads no longer kept (the running one and the one before stay)."""
        for parent in (self.layout.releases, self.layout.downloads):
            for old in parent.iterdir() if parent.exists() else []:
                if old.name not in keep:
                    shutil.rmtree(old, ignore_errors=True)
        for mark in self.layout.health.iterdir() if self.layout.health.exists() else []:
            mark.unlink(missing_ok=True)


def main(config: Path, agent_args: list[str]) -> None:
    settings = load(config)
    update = settings.update  # without updates it still runs `current`
    root, deadline_s = (update.root, update.health_deadline_s) if update else (RELEASES_ROOT, HEALTH_DEADLINE_S)
    logs.setup(component=f"supervisor:{settings.device}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    layout = Layout(root)
    if not layout.current.is_symlink():
        raise ConfigError(f"{layout.current} does not exist: install a first release (checkpoint release install)")
    Supervisor(layout, ["--config", str(config), *agent_args], deadline_s).run(stop)
