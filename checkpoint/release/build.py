"""`checkpoint release build`: the box software as a wheelhouse with a signed manifest.

A box installs a release with `pip install --no-index --find-links <wheelhouse>` (agent.update):
it reaches central, not the internet, so the wheelhouse holds the project's wheel and every wheel
it depends on, for the box's platform (`pip download --platform`: an arm64 wheelhouse is built on
any machine). The manifest names every file with its SHA-256 and size and is signed with the
deployment's release key, which stays in the deployment directory: central stores and serves the
release, but cannot alter it unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.settings import ConfigError
from common.wheelhouse import sha256_of
from contract import signing
from contract.release import MANIFEST, PROJECT, Manifest, Platform, ReleaseFile

# the wheel tags pip may choose from for each box platform (glibc 2.17 and later: Debian 12 has 2.36)
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"),
    "aarch64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"),
}
# what a copy of the source leaves out: the build then never sees local files (keys, outboxes, venvs)
SKIP = shutil.ignore_patterns(".git", ".venv", "var", "build", "tests", "bench", "fuzz", "__pycache__",
                              "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.sqlite")


def build(source: Path, out: Path, platform: Platform, key: Ed25519PrivateKey, python: str = "3.11",
          pip: Sequence[str] = (sys.executable, "-m", "pip")) -> Path:
    """Build the release of the project at `source` into `out`/<version>/ (wheels and manifest.json);
    return that directory. A ReleaseError says which step failed and pip's last words."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as scratch:
        tree, wheels = Path(scratch) / "source", Path(scratch) / "wheels"
        shutil.copytree(source, tree, ignore=SKIP)
        _pip(pip, "the project's wheel", ["wheel", "--no-deps", "-w", str(wheels), str(tree)])
        project = next(wheels.glob(f"{PROJECT}-*.whl"), None)
        if project is None:
            raise ReleaseError(f"{source}: building gave no {PROJECT} wheel (is this the project's source?)")
        tags = [arg for tag in PLATFORM_TAGS[platform] for arg in ("--platform", tag)]
        _pip(pip, f"the dependencies for {platform}", [
            "download", "-d", str(wheels), "--only-binary=:all:", *tags, "--python-version", python,
            "--implementation", "cp", str(project),
        ])
        version = project.name.split("-")[1]
        files = [ReleaseFile(name=w.name, sha256=sha256_of(w), size=w.stat().st_size) for w in sorted(wheels.iterdir())
                 if w.suffix == ".whl"]
        manifest = Manifest(version=version, platform=platform, python=python, built_at=datetime.now(UTC),
                            project=project.name, files=files)
        (wheels / MANIFEST).write_bytes(signing.seal(key, manifest))
        target = out / version
        if target.exists():
            shutil.rmtree(target)
        wheels.rename(target)
    return target


def _pip(pip: Sequence[str], what: str, args: list[str]) -> None:
    done = subprocess.run([*pip, *args, "-q", "--disable-pip-version-check"], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise ReleaseError(f"pip could not get {what}: {' / '.join(last)}")


class ReleaseError(ConfigError):
    """A release could not be built, or is not what its manifest says."""
