"""Releases built with the real builder (pip wheel and pip download), once for each state of the source,
from copies of this source tree whose version differs: 0.9.1 and 0.9.2, and 0.9.3 whose agent dies at
its start (a deliberately broken release)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
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
from common.wheelhouse import check_files
from contract import signing, topics
from contract.messages import UpdatePush
from contract.release import MANIFEST, Manifest
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


VERSIONS = ("0.9.1", "0.9.2", BROKEN)
Releases = dict[str, Path]  # version -> the release directory (wheels and signed manifest.json)
BUILDS = pytest.StashKey["Future[Releases]"]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """When a test of this session needs the releases, start building them now, in the background: the
    builds wait on the package index (pip download), not on the CPU, and the tests go on meanwhile."""
    cache = getattr(session.config, "cache", None)
    if cache is None or not any("releases" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    builds: Future[Releases] = Future()
    session.config.stash[BUILDS] = builds

    def run() -> None:
        try:
            builds.set_result(build_all(cache.mkdir("releases")))
        except BaseException as exc:  # noqa: BLE001 - handed to the test that asks for a release
            builds.set_exception(exc)

    threading.Thread(target=run, name="release builds", daemon=True).start()


def build_all(cache: Path) -> Releases:
    """Every version of VERSIONS, built at once in `cache` (pytest's cache, where xdist workers and both
    halves of `make test` find them) under a key of the source they were built from: a change of
    source builds them again and removes the old ones. A cached release is reused only if its signed
    manifest still names every file in it with its size and SHA-256."""
    out = cache / source_key()
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others wait, then reuse
        for old in cache.iterdir():
            if old.is_dir() and old != out:
                shutil.rmtree(old)
        missing = [v for v in VERSIONS if not whole(out / v)]
        with tempfile.TemporaryDirectory() as work, ThreadPoolExecutor(len(VERSIONS)) as pool:
            list(pool.map(lambda v: build(source_of(v, Path(work)), out, "x86_64", RELEASE_KEY), missing))
    return {v: out / v for v in VERSIONS}


def source_key() -> str:
    """A digest of what the builder takes from this source tree (its files, as it copies them) and of the
    Python that builds."""
    digest = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    for folder, dirs, files in os.walk(ROOT):
        skipped = SKIP(folder, [*dirs, *files])
        dirs[:] = sorted(d for d in dirs if d not in skipped)
        for name in sorted(f for f in files if f not in skipped):
            path = Path(folder, name)
            digest.update(f"{path.relative_to(ROOT)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def whole(release: Path) -> bool:
    """Whether `release` is a release signed with RELEASE_KEY whose files are all there, unaltered."""
    try:
        manifest = signing.opened(RELEASE_KEY.public_key(), (release / MANIFEST).read_bytes(), Manifest)
        check_files(release, {f.name: (f.sha256, f.size) for f in manifest.files})
    except (OSError, ValueError):  # missing, not signed by the key (BadSignature), not whole
        return False
    return sorted(p.name for p in release.iterdir()) == sorted([MANIFEST, *(f.name for f in manifest.files)])


@pytest.fixture(scope="session")
def releases(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Releases:
    """The releases, shared by every test (and kept for the next session): a test that damages one
    damages its own copy."""
    builds = pytestconfig.stash.get(BUILDS, None)
    if builds is None:  # pytest's cache is off (-p no:cacheprovider): built here, for this session only
        return build_all(tmp_path_factory.mktemp("releases"))
    return builds.result(timeout=900)


class Box:
    """One box as deployed for updates: releases installed under `root`, `checkpoint supervise` running
    the current one against the real broker and central (its log, and its agents', in `log`)."""

    def __init__(self, work: Path, broker: Broker, central_url: str) -> None:
        """The release on trial has the default deadline to prove itself healthy (minutes: the tests run
        among others); what the tests roll back is decided sooner, by an exit or a restart."""
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
            "update": {"central_url": central_url, "release_key": {"hex": RELEASE_PUBLIC}, "root": str(self.root)},
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
