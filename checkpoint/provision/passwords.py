"""Entries of Mosquitto's password file, written by Mosquitto's own tool (`mosquitto_passwd`), so
the hash is always the one the installed broker expects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from common.settings import ConfigError


def _tool() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        raise ConfigError("`mosquitto_passwd` is missing: install the mosquitto package (apt-get install mosquitto)")
    return found


def users(passwd: Path) -> set[str]:
    if not passwd.exists():
        return set()
    return {line.split(":", 1)[0] for line in passwd.read_text().splitlines() if ":" in line}


def set_password(passwd: Path, user: str, password: str) -> None:
    """Add or replace `user`'s entry (the file is created if missing)."""
    if not passwd.exists():
        passwd.parent.mkdir(parents=True, exist_ok=True)
        passwd.touch(mode=0o600)
    _run([_tool(), "-b", str(passwd), user, password], f"set the password of {user}")


def delete_user(passwd: Path, user: str) -> bool:
    """Remove `user`'s entry; False when there was none."""
    if user not in users(passwd):
        return False
    _run([_tool(), "-D", str(passwd), user], f"remove {user}")
    return True


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"mosquitto_passwd could not {what}: {(done.stderr or done.stdout).strip()}")
