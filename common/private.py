"""Files and directories that only their owner may read, whatever the umask.

Central's SQLite database holds password hashes and identities, and a deployment directory holds
keys: they are created with their final mode from the start (os.open and mkdir take the mode, and
a chmod undoes what the umask took away), never created first and tightened after.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> None:
    """Create `path` and each missing parent as 0700; directories that exist are left as they are."""
    missing = []
    for directory in [path, *path.parents]:
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs to set
        directory.chmod(PRIVATE_DIR)


def private_file(path: Path) -> None:
    """Make sure `path` exists as 0600 (created empty when missing, in private directories). An
    existing file of ours is tightened to 0600; another user's is left alone."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            path.chmod(PRIVATE_FILE)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
