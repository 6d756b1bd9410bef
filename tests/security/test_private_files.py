"""Secrets on disk are for their owner only, whatever the umask: central's SQLite database (password
hashes, identities) with its -wal and -shm, everything `checkpoint provision init` and provisioning
write, and the demo's work folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from central.auth import Accounts, Role
from central.regions import WHOLE
from central.store import Store
from checkpoint.demo import Demo
from checkpoint.provision import actions
from checkpoint.provision.deployment import Login
from contract.messages import CheckpointKind
from tests.deploy.conftest import make_deployment

PUBLIC = {"ca.crt", "crl.pem"}  # certificates: anyone may read them


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most careless umask there is: nothing taken away."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _loose(root: Path) -> list[str]:
    """Files or directories under `root` (itself included) that others may read or anyone else may write."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = _mode(path)
        if path.is_dir():
            allowed = 0o751 if path == root or path.name == "broker" else 0o700  # 0711: pass through only
        elif path.name in PUBLIC and path.parent.name != "broker":
            allowed = 0o644
        elif path.parent.name == "broker":
            allowed = 0o640  # for the broker's group
        else:
            allowed = 0o600
        if mode & ~allowed:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


def _sqlite_files(url: str) -> list[Path]:
    """Central's database as SQLite leaves it while it is open: the file, its -wal and -shm."""
    store = Store(url)
    try:
        store.migrate()
        if not Accounts(store.engine).list(WHOLE):
            Accounts(store.engine).add("zhang", "a-long-password", Role.ADMIN)
        with store.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM users"))
            path = Path(url.split("///", 1)[1])
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            assert all(f.exists() for f in files)
            return [f for f in files if _mode(f) != 0o600]
    finally:
        store.dispose()


def test_provisioning_writes_nothing_others_may_read(tmp_path: Path, open_umask: None) -> None:
    deployment = make_deployment(tmp_path)
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    actions.provision(deployment, "box-2", "site-1", CheckpointKind.COMMUNITY, Login.CERTIFICATE)
    assert _loose(deployment.dir) == []
    database = tmp_path / "central"
    assert _mode(database) == 0o700
    assert _sqlite_files(deployment.settings().central_database_url) == []


def test_the_demo_keeps_its_work_folder_and_central_database_private(tmp_path: Path, open_umask: None) -> None:
    demo = Demo(tmp_path / "demo", agents=1)
    demo.prepare()
    assert _mode(demo.workdir) == 0o700
    assert _sqlite_files(demo.db_url) == []


def test_an_existing_database_of_ours_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "central.sqlite"
    _sqlite_files(f"sqlite:///{path}")
    path.chmod(0o644)  # as an older version left it
    assert _sqlite_files(f"sqlite:///{path}") == []
