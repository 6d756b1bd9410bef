"""Releases: built and signed by the real builder, taken in by central only when signed and whole,
served only to registered boxes that sign their requests."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from central import audit
from central.regions import WHOLE
from central.releases import ReleaseRefused, Releases
from central.store import Store
from common.wheelhouse import sha256_of
from contract import signing
from contract.release import MANIFEST, Manifest
from tests.central.conftest import KEY, Server, add_users, settings_for
from tests.updates.conftest import RELEASE_KEY, RELEASE_PUBLIC, ROOT
from tests.updates.conftest import Releases as Built


def central_releases(store: Store, tmp_path: Path) -> Releases:
    return Releases(store.engine, tmp_path / "kept", RELEASE_KEY.public_key)


def test_a_release_is_every_wheel_with_its_hash_signed_by_the_release_key(releases: Built) -> None:
    release = releases["0.9.1"]
    manifest = signing.opened(RELEASE_KEY.public_key(), (release / MANIFEST).read_bytes(), Manifest)
    assert manifest.version == "0.9.1" and manifest.platform == "x86_64"
    assert manifest.project == "checkpoint_station-0.9.1-py3-none-any.whl"
    names = {f.name.split("-")[0].lower() for f in manifest.files}
    assert {"checkpoint_station", "pydantic", "cryptography", "paho_mqtt", "numpy", "sqlalchemy"} <= names
    for f in manifest.files:
        assert sha256_of(release / f.name) == f.sha256 and (release / f.name).stat().st_size == f.size
    assert sorted(p.name for p in release.iterdir()) == sorted([MANIFEST, *(f.name for f in manifest.files)])


def test_central_takes_in_a_signed_whole_release_once(releases: Built, sqlite_store: Store, tmp_path: Path) -> None:
    kept = central_releases(sqlite_store, tmp_path)
    manifest = kept.add(releases["0.9.1"], "cli:deployer")
    assert manifest.version == "0.9.1"
    (row,) = kept.listed()
    assert row["manifest_sha256"] == hashlib.sha256((releases["0.9.1"] / MANIFEST).read_bytes()).hexdigest()
    assert kept.file("0.9.1", manifest.project) == tmp_path / "kept" / "0.9.1" / manifest.project
    assert kept.file("0.9.1", "../../central.sqlite") is None and kept.file("0.9.9", MANIFEST) is None
    with pytest.raises(ReleaseRefused, match="already here"):
        kept.add(releases["0.9.1"], "cli:deployer")
    (entry,) = audit.recent(sqlite_store.engine, WHOLE, action="release_add")
    assert entry["target"] == "0.9.1" and entry["username"] == "cli:deployer"


def tampered(release: Path, into: Path) -> tuple[Path, Manifest]:
    copy = into / release.name
    shutil.copytree(release, copy)
    return copy, Manifest.model_validate_json((copy / MANIFEST).read_bytes())


@pytest.mark.parametrize("damage", ["other key", "altered manifest", "wrong hash", "truncated", "missing"])
def test_central_refuses_a_release_not_signed_or_not_whole(
    damage: str, releases: Built, sqlite_store: Store, tmp_path: Path
) -> None:
    copy, manifest = tampered(releases["0.9.1"], tmp_path / "copy")
    wheel = copy / manifest.project
    if damage == "other key":
        (copy / MANIFEST).write_bytes(signing.seal(signing.new_downlink_key(), manifest))
    elif damage == "altered manifest":
        doc = json.loads((copy / MANIFEST).read_bytes())
        doc["files"][0]["sha256"] = "0" * 64
        (copy / MANIFEST).write_text(json.dumps(doc))
    elif damage == "wrong hash":
        data = bytearray(wheel.read_bytes())
        data[100] ^= 1
        wheel.write_bytes(bytes(data))
    elif damage == "truncated":
        wheel.write_bytes(wheel.read_bytes()[:-10])
    else:
        wheel.unlink()
    reason = {"other key": "not signed by the deployment's release key", "altered manifest": "does not match",
              "wrong hash": "SHA-256", "truncated": "truncated", "missing": "missing"}[damage]
    kept = central_releases(sqlite_store, tmp_path)
    with pytest.raises(ReleaseRefused, match=reason):
        kept.add(copy, "cli:deployer")
    assert not kept.listed() and not (tmp_path / "kept" / "0.9.1").exists()


def signed_get(client: httpx.Client, path: str, device: str = "box-a", key: bytes = KEY,
               at: int | None = None) -> httpx.Response:
    at = int(time.time()) if at is None else at
    sig = signing.request_signature(key, device, "GET", path, at)
    return client.get(path, headers={"X-Checkpoint-Device": device, "X-Checkpoint-Time": str(at),
                                     "X-Checkpoint-Signature": sig})


def test_boxes_download_releases_with_signed_requests(releases: Built, sqlite_store: Store, tmp_path: Path) -> None:
    (tmp_path / "release.pub").write_text(RELEASE_PUBLIC)
    settings = settings_for(None, release_key_file=tmp_path / "release.pub", releases_dir=tmp_path / "kept")
    add_users(sqlite_store)
    manifest = central_releases(sqlite_store, tmp_path).add(releases["0.9.1"], "cli:deployer")
    sqlite_store.register_device("box-r", "site-a", "traffic", (b"r" * 32).hex())
    with Server(settings, sqlite_store) as server:
        client = server.client()
        base = "/api/box/releases/0.9.1"
        got = signed_get(client, f"{base}/{MANIFEST}")
        assert got.status_code == 200 and got.content == (releases["0.9.1"] / MANIFEST).read_bytes()
        wheel = signed_get(client, f"{base}/{manifest.project}")
        assert hashlib.sha256(wheel.content).hexdigest() == manifest.files[
            [f.name for f in manifest.files].index(manifest.project)].sha256
        assert client.get(f"{base}/{MANIFEST}").status_code == 401
        assert signed_get(client, f"{base}/{MANIFEST}", key=b"x" * 32).status_code == 401
        assert signed_get(client, f"{base}/{MANIFEST}", at=int(time.time()) - 3 * 86400).status_code == 401
        assert signed_get(client, f"{base}/{MANIFEST}", device="box-z").status_code == 401
        sqlite_store.revoke_device("box-r")
        assert signed_get(client, f"{base}/{MANIFEST}", device="box-r", key=b"r" * 32).status_code == 401
        assert signed_get(client, f"{base}/other-1.0-py3-none-any.whl").status_code == 404
        assert signed_get(client, "/api/box/releases/0.9.1/..%2Fcentral.sqlite").status_code in (404, 422)
        listed = server.login("viewer").get("/api/releases").json()
        assert [r["version"] for r in listed] == ["0.9.1"]


def test_an_arm64_release_is_built_on_any_machine(tmp_path: Path) -> None:
    """`checkpoint release build --platform arm64`: the Pi's wheels, fetched for its platform (pip
    download --platform), signed with the deployment's release key."""
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    (deployment / "release.key").write_text(signing.new_downlink_key().private_bytes_raw().hex())
    done = subprocess.run([sys.executable, "-m", "checkpoint", "release", "build", "--deployment", str(deployment),
                           "--out", str(tmp_path / "out"), "--source", str(ROOT), "--platform", "arm64"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (release,) = (tmp_path / "out").iterdir()
    key = signing.private_key((deployment / "release.key").read_text()).public_key()
    manifest = signing.opened(key, (release / MANIFEST).read_bytes(), Manifest)
    assert manifest.platform == "aarch64" and manifest.version == release.name
    native = [f.name for f in manifest.files if not f.name.endswith("-none-any.whl")]
    assert native and all("aarch64" in name for name in native)  # numpy, OpenCV, cryptography, ... for the Pi
    assert any(name.startswith("opencv_python_headless") for name in native)


def test_a_build_without_the_release_key_says_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "checkpoint", "release", "build", "--deployment", str(tmp_path),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "checkpoint provision init" in done.stderr
