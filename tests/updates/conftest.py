"""Releases built once per test session with the real builder (pip wheel and pip download), from
copies of this source tree whose version differs: 0.9.1 and 0.9.2, and 0.9.3 whose agent dies at
its start (a deliberately broken release)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from checkpoint.release.build import SKIP, build
from contract import signing
from tests.central.conftest import cheap_password_hashes, sqlite_store  # noqa: F401 - fixtures shared

ROOT = Path(__file__).resolve().parents[2]
RELEASE_SEED = "5e" * 32
RELEASE_KEY = signing.private_key(RELEASE_SEED)
RELEASE_PUBLIC = RELEASE_KEY.public_key().public_bytes_raw().hex()
BROKEN = "0.9.3"


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
