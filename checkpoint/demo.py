"""`checkpoint demo`: the whole flow on one machine.

A Mosquitto broker on a free loopback port (the project's configuration), central (collector and
dashboard), and N simulated boxes, each a separate process as on real machines. It runs until
Ctrl-C or `--duration`, then stops the boxes first (each drains its outbox), then central, then the
broker, and counts: produced (the boxes' sequence numbers) against stored (central's database).
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from agent.config import render as agent_yaml
from agent.outbox import Outbox
from central.auth import Accounts, Role
from central.store import Store
from checkpoint import loop as closed_loop
from checkpoint.broker import Broker, free_port
from common.private import private_dir, private_file
from contract import signing

console = Console()
DEMO_USER = "demo"


@dataclass
class Box:
    site: str
    device: str
    kind: str
    config: Path
    outbox: Path
    kiosk_port: int
    signing_key: str = field(default_factory=lambda: secrets.token_hex(32))
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Demo:
    workdir: Path
    agents: int = 3
    passages_per_minute: float = 60.0
    mode: str = "devices"  # the simulated stations: "devices" (simulators + drivers) or "direct" (load)
    boxes: list[Box] = field(default_factory=list)
    broker: Broker | None = None
    central: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    wall_port: int = 0
    wall: _WallServer | None = None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(9))  # the dashboard login
    database_url: str = ""  # central's database; SQLite in the work folder when empty
    loop: bool = False  # the closed loop (checkpoint.loop): a region tree, offices, obligations kept by themselves
    pseudonym_key: str = field(default_factory=lambda: secrets.token_hex(32))
    conductor: threading.Thread | None = None
    _conducting: threading.Event = field(default_factory=threading.Event)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.workdir / 'central' / 'central.sqlite'}"

    def prepare(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        private_dir(self.workdir / "logs")  # the work folder holds keys and central's database
        self.broker = Broker(self.workdir / "broker")
        self.http_port = free_port()
        self.wall_port = free_port()
        pseudonym_key = self.pseudonym_key
        downlink_key = signing.new_downlink_key()
        central_key = downlink_key.public_key().public_bytes_raw().hex()
        mqtt = {"host": "127.0.0.1", "port": self.broker.port}
        for n in range(1, self.agents + 1):
            kind = "traffic" if n % 2 else "community"
            box_dir = self.workdir / f"box-{n}"
            box = Box(
                f"demo-site-{n}", f"box-{n}", kind, box_dir / "agent.yaml", box_dir / "outbox.sqlite", free_port()
            )
            simulation = {
                "mode": self.mode,
                "passages_per_minute": self.passages_per_minute,
                "seed": n,
                "thermometer": ("gy-mcu", "aa-a5", "modbus", "ascii")[(n - 1) % 4],
                "workdir": str(box_dir / "devices"),
            }
            looped: dict[str, object] = {}
            if self.loop and kind == "traffic":
                simulation["travellers"] = closed_loop.TRAVELLERS.model_dump()
                looped["home_province"] = closed_loop.COUNTIES[0][:2]  # outsiders register (报备)
            elif self.loop and closed_loop.place_of(n, kind) == closed_loop.HOTEL:
                simulation["arrivals_dir"] = str(self.arrivals)
            _write_yaml(
                box.config,
                agent_yaml({
                    "site": box.site,
                    "device": box.device,
                    "kind": kind,
                    "signing_key": {"hex": box.signing_key},
                    "pseudonym_key": {"hex": pseudonym_key},
                    "central_key": {"hex": central_key},
                    "mqtt": mqtt,
                    "outbox": {"path": str(box.outbox)},
                    "state_dir": str(box_dir / "state"),
                    "metrics_interval_s": 5,
                    "kiosk": {"port": box.kiosk_port, "venue_code": f"https://venue.example/checkpoint/{box.site}"},
                    "simulation": simulation,
                    **looped,
                }),
            )
            self.boxes.append(box)
        _write_yaml(
            self.workdir / "central" / "central.yaml",
            yaml.safe_dump({
                "database_url": self.db_url,
                "downlink_key": downlink_key.private_bytes_raw().hex(),
                "pseudonym_key": pseudonym_key,  # imports of registrations and test results are keyed with it
                "timezone": closed_loop.ZONE,
                "mqtt": mqtt,
                **({"obligations": {"deadlines_h": closed_loop.DEADLINES_H, "scan_s": 5}} if self.loop else {}),
                # the wall page shows the dashboard in a frame; no other page may
                "http": {"host": "127.0.0.1", "port": self.http_port,
                         "frame_ancestors": [f"http://127.0.0.1:{self.wall_port}", f"http://localhost:{self.wall_port}"]},
            }, sort_keys=False),
        )
        store = Store(self.db_url)
        store.migrate()
        Accounts(store.engine).add(DEMO_USER, self.password, Role.ADMIN)
        if self.loop:
            closed_loop.plant(store, self.password)
        for n, box in enumerate(self.boxes, start=1):
            region = closed_loop.place_of(n, box.kind) if self.loop else None
            store.register_device(box.device, box.site, box.kind, box.signing_key, region=region)
        store.dispose()

    @property
    def arrivals(self) -> Path:
        """Where the conductor sends the travellers who arrive at the hotel's box."""
        return self.workdir / "box-2" / "arrivals"

    def start(self) -> None:
        assert self.broker is not None
        self.broker.start()
        self.start_central()
        for box in self.boxes:
            self.start_box(box)
        if self.loop:
            self.start_conductor()

    def start_conductor(self) -> None:
        """The people and offices outside the boxes (checkpoint.loop.Conductor), in a thread."""
        seeds = [n for n, box in enumerate(self.boxes, start=1) if box.kind == "traffic"]
        conductor = closed_loop.Conductor(
            Store(self.db_url), f"http://127.0.0.1:{self.http_port}", (DEMO_USER, self.password),
            bytes.fromhex(self.pseudonym_key), seeds, self.arrivals, said=lambda line: console.log(line),
        )
        self.conductor = threading.Thread(target=conductor.run, args=(self._conducting,), daemon=True,
                                          name="conductor")
        self.conductor.start()

    def start_central(self, wait: bool = True) -> None:
        """Start central and (`wait`) wait until its collector is subscribed."""
        config = self.workdir / "central" / "central.yaml"
        self.central = _spawn(["central", "--config", str(config)], self.workdir / "logs" / "central.log")
        if wait:
            self.wait_for_central()

    def kill_central(self) -> None:
        _kill(self.central)

    def stop_central(self) -> int | None:
        """SIGTERM, as systemd stops it; its exit status."""
        _terminate(self.central)
        _wait(self.central, 30)
        return self.central.returncode if self.central is not None else None

    def start_box(self, box: Box, log: Path | None = None) -> None:
        log = log or self.workdir / "logs" / f"{box.device}.log"
        box.proc = _spawn(["agent", "--config", str(box.config), "--simulate"], log)

    def stop_box(self, box: Box, timeout: float = 30.0) -> None:
        """SIGTERM: the box stops in order, draining its outbox for up to its drain_timeout_s."""
        _terminate(box.proc)
        _wait(box.proc, timeout)

    def kill_box(self, box: Box) -> None:
        _kill(box.proc)

    def wait_for_central(self, timeout: float = 120.0) -> None:
        """Until central's collector is subscribed: verdicts published before that would reach no one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.central is not None and self.central.poll() is not None:
                raise RuntimeError(f"central exited at start; see {self.workdir / 'logs' / 'central.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.2)
        raise RuntimeError(f"central did not become ready in {timeout:.0f} s; see {self.workdir / 'logs'}")

    def addresses(self) -> Table:
        assert self.broker is not None
        table = Table(title="Checkpoint demo", show_header=False)
        table.add_row("Dashboard 中心看板", f"http://127.0.0.1:{self.http_port}/")
        table.add_row("Login 登录", f"{DEMO_USER} / {self.password}")
        if self.loop:
            for user, (node, name) in closed_loop.LOGINS.items():
                table.add_row(f"Login {name} {node} (its area only 仅本辖区)", f"{user} / {self.password}")
        for box in self.boxes:
            table.add_row(f"Kiosk 卡口 {box.device} ({box.kind})", f"http://127.0.0.1:{box.kiosk_port}/")
        table.add_row("All side by side 总览", self.serve_wall())
        table.add_row("Broker MQTT", f"127.0.0.1:{self.broker.port}")
        table.add_row("Watch", f"mosquitto_sub -h 127.0.0.1 -p {self.broker.port} -t 'checkpoint/v1/#' -v")
        table.add_row("Logs", str(self.workdir / "logs"))
        return table

    def serve_wall(self) -> str:
        """Serve the wall on loopback too: from there the dashboard's login cookie works in its frame
        (a file:// page is another site, and the dashboard's cookies are same-site only). Only the
        wall: the work folder beside it holds the boxes' keys and central's database."""
        self.wall = _WallServer(self.wall_port, self.wall_page())
        threading.Thread(target=self.wall.serve_forever, daemon=True, name="wall").start()
        return f"http://127.0.0.1:{self.wall_port}/wall.html"

    def wall_page(self) -> bytes:
        """A page showing central's dashboard beside every box's kiosk."""
        frames = [f'<iframe src="http://127.0.0.1:{self.http_port}/" class="central"></iframe>']
        frames += [f'<iframe src="http://127.0.0.1:{b.kiosk_port}/" title="{b.device}"></iframe>' for b in self.boxes]
        return (
            "<!doctype html><meta charset=utf-8><title>Checkpoint demo</title><style>"
            "body{margin:0;display:flex;flex-wrap:wrap;gap:4px;background:#111}"
            "iframe{width:800px;height:480px;border:0;background:#fff}iframe.central{width:100%;height:560px}"
            "</style>" + "".join(frames)
        ).encode()

    def produced(self) -> int:
        total = 0
        for box in self.boxes:
            if box.outbox.exists():
                with Outbox(box.outbox) as outbox:
                    total += outbox.last_seq
        return total

    def counts(self) -> dict[str, int]:
        store = Store(self.db_url)
        try:
            return store.counts()
        finally:
            store.dispose()

    def progress(self) -> Table:
        counts = self.counts()
        table = Table(show_header=True)
        for title in ("produced", "stored", "duplicates", "rejected"):
            table.add_column(title, justify="right")
        cells = [str(self.produced()), str(counts["stored"]), str(counts["duplicates"]), str(counts["dead_letters"])]
        if self.loop:  # the obligations: still owed, closed by evidence, gone overdue
            store = Store(self.db_url)
            try:
                loop = closed_loop.closed_by_themselves(store)
            finally:
                store.dispose()
            for title in ("owed 待闭环", "closed by evidence 自动闭环", "overdue 超时"):
                table.add_column(title, justify="right")
            cells += [str(loop["open"]), str(sum(k["count"] for k in loop["closed_by_themselves"].values())),
                      str(loop["overdue"])]
        table.add_row(*cells)
        return table

    def stop(self, timeout: float = 30.0) -> None:
        """Boxes first (each drains its outbox for up to its drain_timeout_s), then central, then the broker."""
        self._conducting.set()
        if self.conductor is not None:
            self.conductor.join(30)
        for box in self.boxes:
            _terminate(box.proc)
        for box in self.boxes:
            _wait(box.proc, timeout)
        _terminate(self.central)
        _wait(self.central, 30)
        if self.broker is not None:
            self.broker.stop()
        self.close_wall()

    def close_wall(self) -> None:
        if self.wall is not None:
            self.wall.shutdown()
            self.wall.server_close()
            self.wall = None

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        result: dict[str, Any] = {
            "produced": self.produced(),
            "stored": counts["stored"],
            "duplicates": counts["duplicates"],
            "rejected": counts["dead_letters"],
        }
        if self.loop:
            store = Store(self.db_url)
            try:
                result["loop"] = closed_loop.closed_by_themselves(store)
            finally:
                store.dispose()
        return result


def run(workdir: Path, agents: int, duration: float | None, summary_json: Path | None, rate: float, mode: str) -> int:
    demo = Demo(workdir, agents, rate, mode, loop=True)
    demo.prepare()
    try:
        demo.start()
        console.print(demo.addresses())
        console.print("Press Ctrl-C to stop." if duration is None else f"Running for {duration:.0f} s.")
        deadline = time.monotonic() + duration if duration is not None else None
        with Live(demo.progress(), console=console, refresh_per_second=1) as live:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(1)
                live.update(demo.progress())
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping: boxes first (each drains its outbox), then central, then the broker…")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the drain short
        demo.stop()
    result = demo.summary()
    console.print(result)
    if "loop" in result:
        closed = result["loop"]["closed_by_themselves"]
        console.print("The loop 闭环: obligations closed by themselves (from the passage to the evidence):")
        for what, figures in closed.items():
            console.print(f"  {what}: {figures['count']}, median {figures['median_s']:.0f} s")
        console.print(f"  gone overdue 超时: {result['loop']['overdue']}; still owed 待闭环: {result['loop']['open']}")
    if summary_json is not None:
        summary_json.write_text(json.dumps(result) + "\n")
    if result["produced"] != result["stored"] or result["duplicates"]:
        console.print(f"[red]Not every verdict arrived exactly once; see the logs in {workdir / 'logs'}[/red]")
        return 1
    return 0


class _WallServer(http.server.ThreadingHTTPServer):
    """Serves one page, to requests addressed to loopback by name or number (a page elsewhere that
    points its own name at 127.0.0.1, DNS rebinding, gets nothing)."""

    def __init__(self, port: int, page: bytes) -> None:
        super().__init__(("127.0.0.1", port), _WallPage)
        self.page = page
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}


class _WallPage(http.server.BaseHTTPRequestHandler):
    server: _WallServer

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.headers.get("Host", "") not in self.server.hosts:
            self._answer(421, b"this server answers to 127.0.0.1 and localhost only\n", "text/plain")
        elif urlsplit(self.path).path not in ("/", "/wall.html"):
            self._answer(404, b"only /wall.html is served here\n", "text/plain")
        else:
            self._answer(200, self.server.page, "text/html; charset=utf-8")

    def _answer(self, status: int, body: bytes, media_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Requests are not news; the demo's own table owns the terminal."""


def _write_yaml(path: Path, text: str) -> None:
    private_file(path)  # it holds keys
    path.write_text(text)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "checkpoint", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    """A crash or a power cut: SIGKILL, nothing flushed."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def _wait(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if proc is None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
