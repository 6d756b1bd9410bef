"""A Mosquitto broker on a free loopback port, for the demo and the tests.

The tests kill it (SIGKILL) and start it again on the same port with the same persistence file,
which is why this is a small object rather than a fixture: the demo, the tests and the benchmarks
all need the same start / stop / kill / restart.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

LOCAL_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "local.conf"
INSTALL_HINT = (
    "the `mosquitto` broker is not installed. On Debian, Ubuntu or Raspberry Pi OS: "
    "sudo apt-get install mosquitto   (then run this again; `make demo` does this for you)"
)


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if found is None:
        raise BrokerError(INSTALL_HINT)
    return found


class Broker:
    def __init__(self, workdir: Path, port: int | None = None, template: Path = LOCAL_CONF) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.template = template
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def render(self, **extra: object) -> str:
        values = {
            "port": self.port,
            "data_dir": self.workdir / "data",
            "log_file": self.log_file,
            "user": getpass.getuser(),
            **extra,
        }
        return self.template.read_text().format(**values)

    @property
    def pid(self) -> int:
        """The running Mosquitto's process id (for its memory and CPU)."""
        assert self._proc is not None, "the broker is not running"
        return self._proc.pid

    def start(self, timeout: float = 10.0) -> Broker:
        binary = mosquitto_binary()
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.render())
        self._proc = subprocess.Popen(
            [binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in a terminal reaches the demo, which stops us in order
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(f"mosquitto exited at start: {err.strip() or self.log_file.read_text()[-500:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing saved since the last autosave."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            self._proc.wait(timeout=15)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
