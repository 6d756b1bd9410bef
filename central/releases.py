"""The releases central keeps and serves to the boxes.

Central takes in only a release the deployer signed (the release key's public half is in its
settings) whose every file has the size and SHA-256 its manifest names, and keeps the files in
`releases_dir`/<version>/ exactly as built. It serves them to boxes as they are: the box checks the
signature and the digests again, so neither a damaged disk here nor anyone on the way can make a
box install what the deployer did not sign. A release is never replaced: a version once taken in
stays what it was (a rollout already sent names its manifest's digest).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Engine, select

from central import audit
from central.schema import releases
from central.sql import now
from common.settings import describe
from common.wheelhouse import check_files
from contract import signing
from contract.release import MANIFEST, Manifest


class ReleaseRefused(ValueError):
    """Not a release this deployment signed, not whole, or a version central already has."""


class Releases:
    def __init__(self, engine: Engine, directory: Path, key: Callable[[], Ed25519PublicKey]) -> None:
        self.engine = engine
        self.dir = directory
        self._key = key  # asked when a release comes in: a central without one still serves its pages

    def add(self, source: Path, username: str, address: str = "") -> Manifest:
        """Check the release in `source` (manifest.json and its wheels) and keep a copy of it."""
        manifest, raw = opened(source / MANIFEST, self._key())
        try:
            check_files(source, {f.name: (f.sha256, f.size) for f in manifest.files})
        except ValueError as exc:
            raise ReleaseRefused(f"release {manifest.version}: {exc}") from None
        target = self.dir / manifest.version
        with self.engine.connect() as conn:
            if conn.scalar(select(releases.c.version).where(releases.c.version == manifest.version)) is not None:
                raise ReleaseRefused(f"release {manifest.version} is already here; build a new version")
        self.dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dir, prefix=".incoming-") as scratch:
            copy = Path(scratch) / manifest.version
            copy.mkdir()
            for f in manifest.files:
                shutil.copyfile(source / f.name, copy / f.name)
            (copy / MANIFEST).write_bytes(raw)
            check_files(copy, {f.name: (f.sha256, f.size) for f in manifest.files})  # what landed on our disk
            if target.exists():
                shutil.rmtree(target)  # left by an add that failed before its row was written
            copy.rename(target)
        with self.engine.begin() as conn:
            conn.execute(releases.insert().values(
                version=manifest.version, platform=manifest.platform, manifest_sha256=hashlib.sha256(raw).hexdigest(),
                files=len(manifest.files), size=manifest.size, built_at=manifest.built_at, added_at=now(),
                added_by=username,
            ))
            audit.record(conn, username, "release_add", manifest.version,
                         f"{manifest.platform}, {len(manifest.files)} files, {manifest.size} bytes", address)
        return manifest

    def listed(self) -> Sequence[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(releases).order_by(releases.c.added_at.desc())).mappings().all()

    def get(self, version: str) -> Any | None:
        with self.engine.connect() as conn:
            return conn.execute(select(releases).where(releases.c.version == version)).mappings().first()

    def file(self, version: str, name: str) -> Path | None:
        """A file of a release central has taken in (its manifest or a wheel it names), else None."""
        if self.get(version) is None:
            return None
        path = self.dir / version / name
        if name == MANIFEST:
            return path if path.is_file() else None
        manifest = Manifest.model_validate_json((self.dir / version / MANIFEST).read_bytes())
        return path if any(f.name == name for f in manifest.files) and path.is_file() else None


def opened(path: Path, key: Ed25519PublicKey) -> tuple[Manifest, bytes]:
    """The manifest at `path` and its bytes, if the release key signed it; ReleaseRefused saying why."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReleaseRefused(f"{path}: {exc.strerror}") from None
    try:
        return signing.opened(key, raw, Manifest, signer="the deployment's release key"), raw
    except ValidationError as exc:
        raise ReleaseRefused(f"{path}: {describe(exc)}") from None
    except signing.BadSignature as exc:
        raise ReleaseRefused(f"{path}: {exc}") from None
