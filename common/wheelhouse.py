"""Checking a directory of files against the sizes and SHA-256 digests a release's manifest names.

Both central (when it takes a release in) and the box (after downloading one) check every file,
so neither stores or installs a byte the deployer did not sign for: a truncated download is a
wrong size, a swapped or damaged file a wrong digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(directory: Path, expected: Mapping[str, tuple[str, int]]) -> None:
    """Raise ValueError naming the first file of `expected` (name -> (sha256, size)) that is missing,
    of another size or another digest in `directory`."""
    for name, (sha256, size) in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            raise ValueError(f"{name}: missing")
        actual = path.stat().st_size
        if actual != size:
            raise ValueError(f"{name}: {actual} bytes, the manifest says {size} (truncated or altered)")
        if sha256_of(path) != sha256:
            raise ValueError(f"{name}: its SHA-256 is not the one the manifest names")
