"""Software updates on the box: fetch a release central names, check it, install it beside the
running one, and ask the supervisor to switch (agent.switch, agent.supervisor).

    <root>/releases/<version>/   one virtual environment per release (`.complete` once installed)
    <root>/current               a symbolic link to the one that runs, replaced with a rename
    <root>/downloads/<version>/  the release's wheels and manifest, as fetched
    <root>/switch.json           the supervisor's state (agent.switch.SwitchState)
    <root>/switch.request        the version this agent asks the supervisor to switch to
    <root>/health/<version>      written by a release on trial once it has proved itself

The update downlink is signed by central; the release by the deployer (the release key): the box
checks the manifest's signature, that it is the manifest the downlink pinned, and every file's
size and SHA-256 before installing anything, and installs only from those files (pip --no-index).
A fetch that fails on the way (central unreachable or busy) is tried again, with growing waits; a
release that is not what it should be (a bad signature, a wrong hash), or a failed install (a full
disk), leaves the running release as it was and is reported. The switch waits for the policy's
update hours and for no passage open. The outbox and the state directory lie outside the releases,
so every release sees the same ones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.config import AgentSettings, UpdateSettings
from agent.policy import Policy
from agent.switch import Outcome, Phase, SwitchState
from common import __version__
from common.backoff import Backoff
from common.settings import describe
from common.wheelhouse import check_files
from contract import signing
from contract.messages import UpdatePush
from contract.release import MANIFEST, Manifest

log = logging.getLogger(__name__)
COMPLETE = ".complete"  # written last into a release's environment: the install finished
MANIFEST_MAX = 1 << 20
SELF_TEST = "checkpoint release self-test"
# a fetch that failed on the way (central unreachable or busy, the line cut) is tried again, waiting
# from this long up to FETCH_RETRY_CAP_S; a release that is not what it should be is refused at once
FETCH_RETRY_FIRST_S = 10.0
FETCH_RETRY_CAP_S = 600.0
_BUSY = frozenset({429, 500, 502, 503, 504})  # central's answers that say "later", not "no"


class Layout:
    """The paths of the A/B installation under `root`, and the two atomic steps on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"
        self.current = root / "current"
        self.downloads = root / "downloads"
        self.state_file = root / "switch.json"
        self.request = root / "switch.request"
        self.health = root / "health"

    def release(self, version: str) -> Path:
        return self.releases / version

    def installed(self, version: str) -> bool:
        return (self.release(version) / COMPLETE).is_file()

    def linked(self) -> str:
        return Path(os.readlink(self.current)).name

    def link(self, version: str) -> None:
        """Point `current` at the release: a new link renamed over the old one (never a moment without)."""
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("releases") / version)
        os.replace(tmp, self.current)
        _sync(self.root)

    def state(self) -> SwitchState | None:
        try:
            return SwitchState.model_validate_json(self.state_file.read_bytes())
        except FileNotFoundError:
            return None

    def save(self, state: SwitchState) -> None:
        write_atomically(self.state_file, state.model_dump_json().encode())

    def ask_switch(self, version: str) -> None:
        write_atomically(self.request, version.encode())

    def healthy(self, version: str) -> None:
        self.health.mkdir(parents=True, exist_ok=True)
        write_atomically(self.health / version, b"ok\n")


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync(path.parent)


def _sync(directory: Path) -> None:
    """The rename itself on disk: a power cut after this cannot bring back the old name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class InstallFailed(Exception):
    """The release could not be installed; the message says why (a full disk, pip's last words)."""


def install(layout: Layout, wheelhouse: Path, manifest: Manifest, python: Path | None = None) -> Path:
    """A new virtual environment with the release, from the checked wheelhouse only. A half-made one
    (a power cut, a full disk) is removed first or on failure: only `.complete` ones are used."""
    target = layout.release(manifest.version)
    if layout.installed(manifest.version):
        return target
    if target.exists():
        shutil.rmtree(target)
    layout.releases.mkdir(parents=True, exist_ok=True)
    interpreter = str(python or Path(sys.base_prefix) / "bin" / "python3")
    steps = [
        [interpreter, "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-cache-dir",
         "--disable-pip-version-check", "--find-links", str(wheelhouse), str(wheelhouse / manifest.project)],
    ]
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=_own_pip())
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            words = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            raise InstallFailed(f"installing {manifest.version} failed: {' / '.join(words)[:400]}")
    if shutil.which("espeak-ng"):  # the kiosk's spoken prompts live in each release's own package
        voice = subprocess.run([str(target / "bin" / "python"), "-m", "agent.kiosk.voice"], capture_output=True,
                               text=True, check=False)
        if voice.returncode != 0:
            log.warning("the new release's spoken prompts were not made; its kiosk beeps instead",
                        extra={"version": manifest.version, "error": voice.stderr.strip()[-300:]})
    try:
        write_atomically(target / COMPLETE, manifest.version.encode())
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise InstallFailed(f"installing {manifest.version} failed: {exc.strerror}") from None
    return target


def _own_pip() -> dict[str, str]:
    """The environment for pip: no configuration of this machine's (indexes, links, constraints)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull}


class Progress(StrEnum):
    """What the devices page shows of a box's update."""

    IDLE = "idle"
    FETCHING = "fetching"
    INSTALLING = "installing"
    WAITING = "waiting"  # installed; for the update hours, or for the passage to end
    SWITCHING = "switching"
    TRIAL = "trial"
    UPDATED = "updated"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class UpdateReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: Progress = Progress.IDLE
    version: str = ""
    reason: str = ""


class Updater:
    """One box's updates, in a thread of the agent: the newest update downlink is acted on once."""

    def __init__(self, settings: AgentSettings, passage_open: Callable[[], bool], policy: Callable[[], Policy],
                 on_change: Callable[[], None]) -> None:
        assert settings.update is not None
        self.settings: UpdateSettings = settings.update
        self.layout = Layout(self.settings.root)
        self._device = settings.device
        self._key = settings.signing_key.value()
        self._release_key = signing.public_key(self.settings.release_key.value().hex())
        self._passage_open = passage_open
        self._policy = policy
        self._on_change = on_change
        self._offered: UpdatePush | None = None
        self._wake = threading.Event()
        self.report = self._from_switch()

    def _from_switch(self) -> UpdateReport:
        """What the supervisor's state says of the last switch (read at start: after a switch or a rollback)."""
        state = self.layout.state()
        if state is None:
            return UpdateReport()
        if state.phase is Phase.TRIAL and state.target == __version__:
            return UpdateReport(state=Progress.TRIAL, version=__version__)
        if state.last is None:
            return UpdateReport()
        outcome = Progress.UPDATED if state.last.outcome is Outcome.UPDATED else Progress.ROLLED_BACK
        return UpdateReport(state=outcome, version=state.last.version, reason=state.last.reason)

    def offer(self, push: UpdatePush) -> None:
        """Called by the downlinks for a signed update downlink (a new one, or the saved one at start)."""
        self._offered = push
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            push = self._offered
            if push is not None:
                self._handle(push, stop)

    def _handle(self, push: UpdatePush, stop: threading.Event) -> None:
        version = push.version
        if version == __version__:
            return  # already running (the report says how it came to be)
        state = self.layout.state()
        if state is not None and version in state.failed:
            self._say(Progress.ROLLED_BACK, version, state.failed[version])
            return
        try:
            manifest = self._fetch_whole(push, stop)
            if manifest is None:
                return  # stopping, or a newer update downlink came: the files fetched so far stay for it
            self._say(Progress.INSTALLING, version)
            install(self.layout, self.layout.downloads / version, manifest, self.settings.python)
        except (InstallFailed, FetchFailed) as exc:
            self._say(Progress.FAILED, version, str(exc))
            shutil.rmtree(self.layout.downloads / version, ignore_errors=True)
            return
        except OSError as exc:  # a full disk while downloading, a directory that cannot be written
            self._say(Progress.FAILED, version, f"{exc.strerror or exc}")
            shutil.rmtree(self.layout.downloads / version, ignore_errors=True)
            return
        self.switch_when_quiet(push, stop)

    def switch_when_quiet(self, push: UpdatePush, stop: threading.Event, every_s: float = 1.0) -> None:
        """Ask the supervisor to switch to the installed release once no passage is open and the policy's
        update hours have come (unless a newer update downlink came meanwhile, or the agent stops)."""
        self._say(Progress.WAITING, push.version)
        while not stop.is_set() and self._offered is push:
            if not self._passage_open() and self._policy().may_update(datetime.now().time()):
                self.layout.ask_switch(push.version)
                self._say(Progress.SWITCHING, push.version)
                return
            stop.wait(every_s)

    def _fetch_whole(self, push: UpdatePush, stop: threading.Event) -> Manifest | None:
        """The release fetched and checked, trying again while the failure is on the way (a box on a
        village line loses it for minutes); None if the agent stops or a newer downlink comes first.
        What was fetched whole is kept between tries."""
        backoff = Backoff(FETCH_RETRY_FIRST_S, FETCH_RETRY_CAP_S)
        while True:
            try:
                return self._fetch(push)
            except FetchFailed as exc:
                if not exc.transient:
                    raise
                delay = backoff.next_delay()
                self._say(Progress.FETCHING, push.version, f"{exc}; trying again in {delay:.0f} s")
            until = time.monotonic() + delay
            while (left := until - time.monotonic()) > 0:
                if stop.wait(min(left, 1.0)) or self._offered is not push:
                    return None

    def _fetch(self, push: UpdatePush) -> Manifest:
        """The release's manifest and wheels in downloads/<version>, every one checked."""
        self._say(Progress.FETCHING, push.version)
        where = self.layout.downloads / push.version
        where.mkdir(parents=True, exist_ok=True)
        base = f"{self.settings.central_url.rstrip('/')}/api/box/releases/{push.version}"
        verify: str | bool = str(self.settings.tls_ca) if self.settings.tls_ca else True
        with httpx.Client(verify=verify, timeout=30) as http:
            self._get(http, f"{base}/{MANIFEST}", where / MANIFEST, MANIFEST_MAX)
            raw = (where / MANIFEST).read_bytes()
            if hashlib.sha256(raw).hexdigest() != push.manifest_sha256:
                raise FetchFailed("the manifest is not the one the update downlink names")
            try:
                manifest = signing.opened(self._release_key, raw, Manifest, signer="the deployment's release key")
            except ValidationError as exc:
                raise FetchFailed(f"the manifest: {describe(exc)}") from None
            except signing.BadSignature as exc:
                raise FetchFailed(f"the manifest is {exc}") from None
            mine = f"{sys.version_info.major}.{sys.version_info.minor}"
            if (manifest.version, manifest.platform, manifest.python) != (push.version, platform.machine(), mine):
                raise FetchFailed(f"release {manifest.version} is for {manifest.platform}, Python {manifest.python}; "
                                  f"this box is {platform.machine()}, Python {mine}")
            expected = {f.name: (f.sha256, f.size) for f in manifest.files}
            for f in manifest.files:
                path = where / f.name
                try:
                    check_files(where, {f.name: expected[f.name]})
                    continue  # fetched whole before (a restart, a power cut)
                except ValueError:
                    pass
                self._get(http, f"{base}/{f.name}", path, f.size)
            try:
                check_files(where, expected)
            except ValueError as exc:
                raise FetchFailed(f"release {push.version}: {exc}") from None
        return manifest

    def _get(self, http: httpx.Client, url: str, into: Path, limit: int) -> None:
        """GET `url`, signed with the box's key, into the file `into`: at most `limit` bytes."""
        at = int(time.time())
        path = httpx.URL(url).path
        headers = {"X-Checkpoint-Device": self._device, "X-Checkpoint-Time": str(at),
                   "X-Checkpoint-Signature": signing.request_signature(self._key, self._device, "GET", path, at)}
        try:
            with http.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"central answered {response.status_code} for {path}",
                                      transient=response.status_code in _BUSY)
                size = 0
                with into.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise FetchFailed(f"{path}: larger than the manifest says")
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise FetchFailed(f"central unreachable for {path}: {type(exc).__name__}", transient=True) from None

    def _say(self, state: Progress, version: str, reason: str = "") -> None:
        self.report = UpdateReport(state=state, version=version, reason=reason[:500])
        (log.error if state in (Progress.FAILED, Progress.ROLLED_BACK) else log.info)(
            f"update {state.value}", extra={"version": version, "reason": reason[:300]})
        self._on_change()


def self_test_decode() -> bool:
    """Whether this release's decoders read a code it draws itself (OpenCV, zxing-cpp and zbar load)."""
    import numpy as np

    from drivers.camera.decode import Decoder
    from drivers.camera.render import qr_modules

    image = np.where(np.kron(qr_modules(SELF_TEST), np.ones((6, 6), dtype=bool)), 0, 255).astype(np.uint8)
    return any(found.text == SELF_TEST for found in Decoder(budget_ms=1000).decode(image).found)


class FetchFailed(Exception):
    """The release could not be fetched whole (`transient`: central unreachable or busy, worth trying
    again), or is not what the update downlink and the release key say."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient
