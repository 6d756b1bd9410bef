"""Releases built once per test session with the real builder (pip wheel and pip download), from
copies of this source tree whose version differs: 0.9.1 and 0.9.2, and 0.9.3 whose agent dies at
its start (a deliberately broken release)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from agent.switch import SwitchState
from agent.update import Layout
from central.push import publish_retained
from central.schema import device_status, verdicts
from central.store import Store
from checkpoint.broker import Broker
from checkpoint.release.build import SKIP, build
from common.mqtt import MqttSettings
from contract import signing, topics
from contract.messages import UpdatePush
from contract.release import MANIFEST
from tests.central.conftest import KEY, cheap_password_hashes, sqlite_store  # noqa: F401 - fixtures shared
from tests.factories import CENTRAL_KEY, DOWNLINK_KEY

ROOT = Path(__file__).resolve().parents[2]
RELEASE_SEED = "5e" * 32
RELEASE_KEY = signing.private_key(RELEASE_SEED)
RELEASE_PUBLIC = RELEASE_KEY.public_key().public_bytes_raw().hex()
BROKEN = "0.9.3"
CLI = [sys.executable, "-m", "checkpoint"]


def source_of(version: str, into: Path) -> Path:
    """A copy of this source tree that says it is `version` (the broken one's agent raises at start)."""
    tree = into / f"src-{version}"
    shutil.copytree(ROOT, tree, ignore=SKIP)
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1,
                                flags=re.M))
    if version == BROKEN:
        app = tree / "agent" / "app.py"
        broken = 'def main(*_args: object) -> None:\n    raise SystemExit("a broken release")\n\n\ndef _main('
        app.write_text(app.read_text().replace("def main(", broken, 1))
    return tree


class Releases:
    """Each version built the first time a test asks for it, then reused by every test."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.built: dict[str, Path] = {}

    def __getitem__(self, version: str) -> Path:
        if version not in self.built:
            self.built[version] = build(source_of(version, self.work), self.work / "out", "x86_64", RELEASE_KEY)
        return self.built[version]


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    """version -> the release directory (wheels and signed manifest.json)."""
    return Releases(tmp_path_factory.mktemp("releases"))


class Box:
    """One box as deployed for updates: releases installed under `root`, `checkpoint supervise` running
    the current one against the real broker and central (its log, and its agents', in `log`)."""

    def __init__(self, work: Path, broker: Broker, central_url: str, deadline_s: float = 90) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.root = work / "opt"
        self.layout = Layout(self.root)
        self.config = work / "agent.yaml"
        self.log = work / "box.log"
        self.config.write_text(yaml.safe_dump({
            "site": "site-a", "device": "box-a", "signing_key": {"hex": KEY.hex()},
            "pseudonym_key": {"hex": "22" * 32}, "central_key": {"hex": CENTRAL_KEY},
            "mqtt": {"host": broker.host, "port": broker.port},
            "outbox": {"path": str(work / "data" / "outbox.sqlite")}, "state_dir": str(work / "data" / "state"),
            "kiosk": {"port": 0}, "simulation": {"mode": "direct", "passages_per_minute": 300},
            "update": {"central_url": central_url, "release_key": {"hex": RELEASE_PUBLIC}, "root": str(self.root),
                       "health_deadline_s": deadline_s},
        }))
        self.proc: subprocess.Popen[bytes] | None = None

    def install(self, release: Path) -> None:
        """The first release, as a deployer installs it on a new box."""
        done = subprocess.run([*CLI, "release", "install", str(release), "--config", str(self.config)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*CLI, "supervise", "--config", str(self.config), "--simulate"],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the supervisor stops its agent, which drains its outbox first
            self.proc.wait(60)

    def kill(self) -> None:
        """A power cut: the supervisor and its agent at once."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(errors="replace").splitlines() if line.startswith("{")]

    def state(self) -> SwitchState | None:
        return self.layout.state()


def push_update(broker: Broker, release: Path, version: str, device: str = "box-a") -> None:
    """What central sends a box to update it: the signed, retained update downlink on its own topic."""
    sha = hashlib.sha256((release / MANIFEST).read_bytes()).hexdigest()
    push = UpdatePush(version=version, manifest_sha256=sha, issued_at=datetime.now(UTC))
    publish_retained(MqttSettings(host=broker.host, port=broker.port), topics.downlink("site-a", device, "update"),
                     signing.seal(DOWNLINK_KEY, push))


def device_row(store: Store, device: str = "box-a") -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(device_status).where(device_status.c.device == device)).mappings().first()
    return dict(row) if row else None


def stored_ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [r for (r,) in conn.execute(select(verdicts.c.id))]
