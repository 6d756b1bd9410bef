"""Central's fixtures: a migrated store on SQLite or PostgreSQL, a collector on the real broker,
flagged verdicts of synthetic people, a real HTTP server for the dashboard, and `checkpoint central`
as a process of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from argon2 import PasswordHasher

from central import auth
from central.auth import Accounts, Role
from central.config import CentralSettings
from central.ingest import Collector
from central.intake import check
from central.regions import ROOT, ROOT_PATH, child_path
from central.schema import regions
from central.store import Batch, Store
from central.web import create_app
from checkpoint.broker import Broker, free_port
from contract import idnumber, signing, topics
from contract.messages import (
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    FollowUp,
    Identity,
    Inputs,
    PersonInput,
    Reason,
    TemperatureInput,
    TravelInput,
    Verdict,
)
from tests import mqtt
from tests.factories import DOWNLINK_SEED, verdict

KEY = b"k" * 32
PSEUDONYM_KEY = bytes(range(32))
PASSWORD = "correct-horse-battery"
TOPIC = topics.uplink("site-a", "box-a", "verdict")


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, with test-sized costs: the production costs take ~0.3 s a hash on a busy CI core."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth, "_HASHER", cheap)
    monkeypatch.setattr(auth, "_DUMMY_HASH", cheap.hash("unknown users are checked against this"))


def synthetic_id(region: str = "110105", birth: str = "19800101", seq: int = 1) -> str:
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + idnumber.check_character(first17)


def flagged(seq: int, person: int = 1, reason: Reason = Reason.CODE_RED, **changes: Any) -> Verdict:
    """A red-code (or other) verdict of synthetic person number `person`, identity included."""
    number = synthetic_id(seq=person)
    colour = {Reason.CODE_RED: CodeColour.RED, Reason.CODE_YELLOW: CodeColour.YELLOW}.get(reason, CodeColour.GREEN)
    decision = Decision.REVIEW if reason is Reason.CODE_YELLOW else Decision.DENY
    inputs = Inputs(
        person=PersonInput(
            source="card", pseudonym=idnumber.pseudonym(PSEUDONYM_KEY, number), id_masked=idnumber.mask(number),
            identity=Identity(name=f"测试{person}号", id_number=number),
        ),
        code=CodeInput(colour=colour, source=ColourSource.SIGNED_PAYLOAD),
        temperature=TemperatureInput(body_c=38.4 if reason is Reason.FEVER_CONFIRMED else 36.5, sensor="gy-mcu"),
        travel=TravelInput(plate="鄂A12345", origin="420100", destination="幸福小区"),
    )
    return verdict(seq=seq, inputs=inputs, decision=decision, reasons=[reason],
                   follow_up=[FollowUp.NOTIFY_COMMAND], **changes)


def db_url(request: pytest.FixtureRequest, tmp_path: Path, which: str) -> str:
    return f"sqlite:///{tmp_path / 'central.sqlite'}" if which == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(db_url(request, tmp_path, request.param))
    s.migrate()
    s.register_device("box-a", "site-a", "traffic", KEY.hex())
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'central.sqlite'}")
    s.migrate()
    s.register_device("box-a", "site-a", "traffic", KEY.hex())
    yield s
    s.dispose()


@pytest.fixture
def server(sqlite_store: Store, broker: Broker) -> Iterator[Server]:
    """Central's HTTP server over a store with the users, one flagged verdict and one that passed."""
    add_users(sqlite_store)
    sqlite_store.write_batch(rows(flagged(1, person=21), verdict(seq=2)))
    with Server(settings_for(broker), sqlite_store) as s:
        yield s


@pytest.fixture
def any_server(store: Store) -> Iterator[Server]:
    """The `server` over each database (SQLite, PostgreSQL), without a broker (no pushes)."""
    add_users(store)
    store.write_batch(rows(flagged(1, person=21), verdict(seq=2)))
    with Server(settings_for(None), store) as s:
        yield s


def rows(*vs: Verdict) -> Batch:
    """The verdicts as ingest turns them into rows (checked and signed with box-a's key)."""
    keys = {"box-a": type("K", (), {"site": "site-a", "key": KEY, "revoked": False})()}
    return Batch(verdicts=[check(TOPIC, signing.sign(KEY, v), keys, max_bytes=65536).row for v in vs])  # type: ignore[arg-type]


def settings_for(broker: Broker | None, **changes: Any) -> CentralSettings:
    mqtt = {"host": broker.host, "port": broker.port} if broker else {"port": 1}
    ingest = {"batch_wait_ms": 10, **changes.pop("ingest", {})}
    pseudonym_key = changes.pop("pseudonym_key", PSEUDONYM_KEY.hex())
    # a test's exports are small, but a loaded machine may write one slower than the default wait: the
    # file in the answer, whatever the machine (test_export_jobs asks for the job instead); built in a
    # thread (test_export_jobs builds in a process of its own too)
    changes.setdefault("exports", {"wait_s": 60, "process": False})
    return CentralSettings(mqtt=mqtt, ingest=ingest, pseudonym_key=pseudonym_key, downlink_key=DOWNLINK_SEED,
                           **changes)


def run_collector(settings: CentralSettings, store: Store) -> tuple[Collector, threading.Event, threading.Thread]:
    c = Collector(settings, store)
    stop = threading.Event()
    thread = threading.Thread(target=c.run, args=(stop,))
    thread.start()
    assert c.subscribed.wait(10)
    return c, stop, thread


@pytest.fixture
def collector(broker: Broker, store: Store) -> Iterator[Collector]:
    c, stop, thread = run_collector(settings_for(broker), store)
    yield c
    stop.set()
    thread.join(10)


def add_places(store: Store, places: dict[str, str]) -> None:
    """Nodes of the region tree (code -> name), each under the longest of the others its code begins with."""
    paths: dict[str, str] = {}
    with store.engine.begin() as conn:
        for code in sorted(places, key=len):
            parent = max((c for c in paths if code.startswith(c)), key=len, default=ROOT)
            paths[code] = child_path(paths.get(parent, ROOT_PATH), code)
            conn.execute(regions.insert().values(code=code, name=places[code], parent=parent, path=paths[code]))


def add_users(store: Store) -> None:
    accounts = Accounts(store.engine)
    for role in Role:
        accounts.add(role.value, PASSWORD, role)


class Server:
    """The web app on a real port, in a thread of this process."""

    def __init__(self, settings: CentralSettings, store: Store) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=self.port, log_config=None,
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run)
        self.clients: list[httpx.Client] = []

    def __enter__(self) -> Server:
        self.thread.start()
        mqtt.wait_until(lambda: self.server.started, timeout=15, what="the web server to start")
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.close()
        self.server.should_exit = True
        self.thread.join(10)

    def client(self) -> httpx.Client:
        """An HTTP client of this server, closed with it."""
        self.clients.append(httpx.Client(base_url=self.url, timeout=10))
        return self.clients[-1]

    def login(self, role: str = "admin") -> httpx.Client:
        """An HTTP client logged in through the API, sending its bearer token."""
        client = self.client()
        token = client.post("/api/session", json={"username": role, "password": PASSWORD}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        return client


class CentralProcess:
    """`checkpoint central` as the office runs it, logging to a file in `workdir`."""

    def __init__(self, workdir: Path, broker: Broker, url: str, **settings: Any) -> None:
        self.config = workdir / "central.yaml"
        self.port = free_port()
        self.log = workdir / "central.log"
        self.config.write_text(yaml.safe_dump({
            "database_url": url,
            "downlink_key": DOWNLINK_SEED,
            "mqtt": {"host": broker.host, "port": broker.port},
            "http": {"host": "127.0.0.1", "port": self.port},
            "ingest": {"client_id": "central-1", "batch_max": 100, "batch_wait_ms": 20},
            **settings,
        }))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> None:
        """Start it; with `wait`, until /healthz says ok."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "checkpoint", "central", "--config", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, **(env or {})})
        if wait:
            mqtt.wait_until(self._ready, timeout=60, what="central's /healthz")

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz's status code and document; (0, {}) while nothing listens."""
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()

    def _ready(self) -> bool:
        return self.health()[0] == 200

    def lines(self) -> list[dict[str, Any]]:
        """The structured log so far (every line must be JSON)."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def said(self, msg: str) -> int:
        """How many log lines say exactly `msg`."""
        return sum(line["msg"] == msg for line in self.lines())

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
