"""Writing provisioning files atomically and with their mode from the first byte.

A key must never exist, even for a moment, with a mode that lets others read it: each file is
created under a temporary name with its final mode (os.open with the mode, not chmod afterwards),
flushed to disk, then renamed over the old one, so a reader sees the old file or the new one. A file
replaced keeps its owner (central's service user may own its settings).
"""

from __future__ import annotations

import os
from pathlib import Path

from common.private import private_dir

PRIVATE = 0o600
SHARED = 0o640  # readable by the group of the service that needs it (the broker's)
PUBLIC = 0o644


def write_file(path: Path, data: bytes, mode: int) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
    if path.exists() and os.geteuid() == 0:  # a re-run keeps the owner a deployer gave the file
        old = path.stat()
        os.chown(tmp, old.st_uid, old.st_gid)
    tmp.replace(path)


def write_private(path: Path, data: bytes) -> None:
    write_file(path, data, PRIVATE)


def write_public(path: Path, data: bytes) -> None:
    write_file(path, data, PUBLIC)
