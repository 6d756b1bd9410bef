"""A PostgreSQL server of a test's own: initdb in a temporary directory, a free port, started and
stopped with pg_ctl, killed with SIGKILL like a crash. The machine's shared server (the `pg_url`
fixture) is never stopped by a test; this one is, as often as the test likes.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the `postgres`
user that Debian's package creates, in a directory of its own outside pytest's (which only root
may enter).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from checkpoint.broker import free_port
from tests.mqtt import wait_until


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are needed (apt-get install postgresql)")
    return found[-1].parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="checkpoint-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "checkpoint", "--no-sync", "-E", "UTF8",
                  "--locale=C.UTF-8")

    @property
    def url(self) -> str:
        return f"postgresql://checkpoint@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        # fsync off: the faults here are process crashes, which keep what the kernel was handed
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """A clean stop (pg_ctl's fast mode)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """A crash: SIGKILL to the server and each of its processes; it recovers at the next start."""
        pid = self._pid()
        if pid is None:
            return
        children = [p for p in _processes() if _parent(p) == pid]
        for each in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(each, signal.SIGKILL)
        wait_until(lambda: not any(_alive(p) for p in [pid, *children]), timeout=15, what="PostgreSQL to die")
        # what a crashed server leaves; a killed process may linger unreaped (a zombie) under a
        # parent that never waits, and PostgreSQL would take its pid for a running server
        for stale in (self.data / "postmaster.pid", self.dir / f".s.PGSQL.{self.port}.lock"):
            stale.unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        pid = self._pid()
        return pid is not None and _alive(pid)

    def remove(self) -> None:
        if self.running:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / program), *args], check=True, capture_output=True,
                       cwd=self.dir, timeout=90)


def _processes() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
