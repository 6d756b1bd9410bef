"""A box updates itself: real releases in real virtual environments, `checkpoint supervise`, the real
broker, central's collector and its HTTPS API (over HTTP here). It switches to a good release, rolls
back from one that dies at its start, and refuses what is not signed or not whole; no verdict is lost
or stored twice across the switches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.switch import Outcome, Phase
from central.releases import Releases
from central.rollouts import Rollouts
from central.store import Store
from checkpoint.broker import Broker
from tests.central.conftest import Server, add_users, run_collector, settings_for
from tests.faults.checks import shown_ids
from tests.mqtt import wait_until
from tests.updates.conftest import (
    BROKEN,
    RELEASE_KEY,
    RELEASE_PUBLIC,
    Box,
    device_row,
    push_update,
    stored_ids,
)
from tests.updates.conftest import Releases as Built


class Central:
    """The collector (verdicts, births) and the web server (releases for the boxes) over one store."""

    def __init__(self, tmp: Path, broker: Broker, store: Store) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "release.pub").write_text(RELEASE_PUBLIC)
        self.settings = settings_for(broker, release_key_file=tmp / "release.pub", releases_dir=tmp / "releases")
        self.store = store
        self.releases = Releases(store.engine, self.settings.releases_dir, RELEASE_KEY.public_key)
        self.server = Server(self.settings, store)

    def __enter__(self) -> Central:
        self.collector, self.stop, self.thread = run_collector(self.settings, self.store)
        rollouts = Rollouts(self.store.engine, self.settings.mqtt, self.settings.downlink_signer)
        self.worker = threading.Thread(target=rollouts.run, args=(self.stop, 0.5))
        self.worker.start()
        self.server.__enter__()
        add_users(self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__()
        self.stop.set()
        self.thread.join(10)
        self.worker.join(10)

    def rollout(self, version: str, **order: Any) -> Any:
        """An admin starts a rollout of `version` to box-a; the rollout's row, to ask again."""
        admin = self.server.login("admin")
        body = {"version": version, "target": {"devices": ["box-a"]}, **order}
        created = admin.post("/api/rollouts", json=body)
        assert created.status_code == 200, created.text
        return lambda: next(r for r in admin.get("/api/rollouts").json() if r["id"] == created.json()["id"])


@pytest.fixture
def central(tmp_path: Path, broker: Broker, sqlite_store: Store) -> Iterator[Central]:
    with Central(tmp_path / "central", broker, sqlite_store) as c:
        yield c


@pytest.fixture
def box(tmp_path: Path, broker: Broker, central: Central, releases: Built) -> Iterator[Box]:
    b = Box(tmp_path / "box", broker, central.server.url)
    b.install(releases["0.9.1"])
    yield b
    b.stop()


def software(central: Central) -> Any:
    row = device_row(central.store)
    return row and row["state"] == "online" and row["software"]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three releases built and installed in real environments
def test_a_rollout_updates_a_box_then_a_broken_release_rolls_back_and_pauses_its_rollout(
    box: Box, central: Central, broker: Broker, releases: Built
) -> None:
    for version in ("0.9.2", BROKEN):
        central.releases.add(releases[version], "cli:deployer")
    box.start()
    wait_until(lambda: software(central) == "0.9.1", timeout=120, what="the box to run 0.9.1", every=0.2)
    wait_until(lambda: len(stored_ids(central.store)) >= 10, timeout=60, what="verdicts from 0.9.1", every=0.2)

    rollout = central.rollout("0.9.2", canaries=1)
    wait_until(lambda: software(central) == "0.9.2", timeout=300, what="the box to run 0.9.2", every=0.5)
    wait_until(lambda: rollout()["state"] == "done", timeout=60, what="the rollout to end", every=0.2)
    state = wait_until(lambda: (s := box.state()) and s.phase is Phase.STEADY and s.current == "0.9.2" and s,
                       timeout=60, what="the switch to end")
    assert state.last is not None and state.last.outcome is Outcome.UPDATED
    assert box.layout.linked() == "0.9.2" and box.layout.installed("0.9.1")  # the one before stays
    row = wait_until(lambda: (r := device_row(central.store)) and r["software_update"] and
                     r["software_update"]["state"] == "updated" and r, timeout=60, what="the update reported")
    assert row["software_update"]["version"] == "0.9.2"
    before = len(stored_ids(central.store))
    wait_until(lambda: len(stored_ids(central.store)) >= before + 10, timeout=60, what="verdicts from 0.9.2",
               every=0.2)

    broken = central.rollout(BROKEN, canaries=0, wave_size=1, max_failed_percent=0)
    state = wait_until(lambda: (s := box.state()) and s.last and s.last.version == BROKEN and s, timeout=300,
                       what="the broken release to be rolled back", every=0.5)
    assert state.last is not None and state.last.outcome is Outcome.ROLLED_BACK
    assert "exited with status" in state.last.reason and state.current == "0.9.2"
    assert box.layout.linked() == "0.9.2"
    row = wait_until(lambda: (r := device_row(central.store)) and r["software_update"] and
                     r["software_update"]["state"] == "rolled_back" and r["state"] == "online" and r,
                     timeout=120, what="the rollback reported", every=0.2)
    assert row["software"] == "0.9.2" and "exited with status" in row["software_update"]["reason"]
    paused = wait_until(lambda: (r := broken())["state"] == "paused" and r, timeout=60, what="the rollout to pause",
                        every=0.2)
    assert paused["reason"].startswith("wave 0: 1 of 1 failed (box-a)")
    after = len(stored_ids(central.store))
    wait_until(lambda: len(stored_ids(central.store)) >= after + 5, timeout=60, what="verdicts after the rollback",
               every=0.2)

    box.stop()  # the agent drains its outbox before the supervisor ends
    shown = shown_ids(box.log)
    wait_until(lambda: set(stored_ids(central.store)) >= shown, timeout=60, what="every verdict shown, stored")
    stored = stored_ids(central.store)
    assert len(stored) == len(set(stored)) == len(shown)  # each once, across two switches and a rollback
    said = [line["msg"] for line in box.lines()]
    assert any("healthy" in m for m in said) and any("rolled back" in m for m in said)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three releases built and installed in real environments
def test_a_release_that_is_not_whole_or_not_signed_is_not_installed(
    box: Box, central: Central, broker: Broker, releases: Built, tmp_path: Path
) -> None:
    central.releases.add(releases["0.9.2"], "cli:deployer")
    kept = central.settings.releases_dir / "0.9.2"
    wheel = next(kept.glob("checkpoint_station-*.whl"))
    good = wheel.read_bytes()
    box.start()
    wait_until(lambda: software(central) == "0.9.1", timeout=120, what="the box to run 0.9.1", every=0.2)
    cases = {
        "truncated": (lambda: wheel.write_bytes(good[:-100]), "truncated"),
        "wrong hash": (lambda: wheel.write_bytes(good[:-1] + bytes([good[-1] ^ 1])), "SHA-256"),
        "bad signature": (lambda: push_other_manifest(kept), "not the one the update downlink names"),
    }
    for name, (damage, reason) in cases.items():
        damage()
        push_update(broker, releases["0.9.2"], "0.9.2")
        row = wait_until(lambda r=reason: (d := device_row(central.store)) and d["software_update"] and
                         d["software_update"]["state"] == "failed" and r in d["software_update"]["reason"] and d,
                         timeout=120, what=f"the {name} release refused", every=0.2)
        assert row["software"] == "0.9.1", name
        wheel.write_bytes(good)
    assert not box.layout.installed("0.9.2") and box.layout.linked() == "0.9.1"
    assert not (box.layout.downloads / "0.9.2").exists()


def push_other_manifest(kept: Path) -> None:
    """The manifest central serves, replaced by one signed with another key (central's disk altered)."""
    from contract import signing
    from contract.release import MANIFEST, Manifest

    manifest = Manifest.model_validate_json((kept / MANIFEST).read_bytes())
    (kept / MANIFEST).write_bytes(signing.seal(signing.new_downlink_key(), manifest))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three releases built and installed in real environments
def test_a_box_killed_during_the_trial_comes_back_on_the_old_release(
    box: Box, central: Central, broker: Broker, releases: Built
) -> None:
    central.releases.add(releases["0.9.2"], "cli:deployer")
    box.start()
    wait_until(lambda: software(central) == "0.9.1", timeout=120, what="the box to run 0.9.1", every=0.2)
    push_update(broker, releases["0.9.2"], "0.9.2")
    wait_until(lambda: (s := box.state()) and s.phase is Phase.TRIAL, timeout=300, what="the trial", every=0.05)
    box.kill()  # a power cut while the new release proves itself
    box.start()
    state = wait_until(lambda: (s := box.state()) and s.phase is Phase.STEADY and s, timeout=60,
                       what="the supervisor to decide")
    assert state.current == "0.9.1" and state.last is not None and state.last.outcome is Outcome.ROLLED_BACK
    assert state.last.reason == "the box restarted during the trial"
    wait_until(lambda: software(central) == "0.9.1", timeout=120, what="0.9.1 back", every=0.2)
    assert box.layout.linked() == "0.9.1"


def test_a_full_disk_while_installing_leaves_nothing_half_made(releases: Built, tmp_path: Path) -> None:
    """Root only (a tmpfs as small as a nearly full card): the install fails, says so, and removes
    its half-made environment; what ran before is untouched."""
    from agent.update import InstallFailed, Layout, install
    from contract.release import MANIFEST, Manifest
    from tests.faults.checks import SmallDisk

    release = releases["0.9.2"]
    manifest = Manifest.model_validate_json((release / MANIFEST).read_bytes())
    with SmallDisk(tmp_path / "card", size_mb=64):
        layout = Layout(tmp_path / "card")
        with pytest.raises(InstallFailed, match="No space left|no space"):
            install(layout, release, manifest)
        assert not layout.release("0.9.2").exists() and not layout.installed("0.9.2")
