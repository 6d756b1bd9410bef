"""A pseudo-terminal that plays a serial device, behind a stable path that survives "unplugging".

Theory of operation: `open()` creates a pty pair and points `link` (a symlink, like the stable names
udev gives real devices) at the slave side. The device model reads what the host writes from the
master side and writes its answers there. `unplug()` closes the pair, so the host's open port fails
with an I/O error exactly as with a pulled USB cable, and the path dangles; `plug()` creates a fresh
pair behind the same link. Everything the host sends is handed to `on_data` in a thread owned here.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import tty
from collections.abc import Callable
from pathlib import Path


class PtyPort:
    """One simulated serial port. `on_data(bytes)` is called from the reader thread."""

    def __init__(self, link: Path, on_data: Callable[[bytes], None]) -> None:
        self.link = Path(link)
        self._on_data = on_data
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return str(self.link)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def open(self) -> PtyPort:
        self.plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._read_loop, name=f"pty:{self.link.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.unplug()
        self.link.unlink(missing_ok=True)

    def __enter__(self) -> PtyPort:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def plug(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave, termios.TCSANOW)  # a device line: no echo, no line editing
            tty.setraw(master, termios.TCSANOW)
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.ttyname(slave))
            tmp.replace(self.link)
            self._master, self._slave = master, slave

    def unplug(self) -> None:
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None

    def write(self, data: bytes) -> None:
        """Send bytes to the host; silently lost while unplugged, as on a real cable."""
        with self._lock:
            if self._master is None:
                return
            view = memoryview(data)
            while view:
                _, ready, _ = select.select([], [self._master], [], 1.0)
                if not ready:
                    return  # nobody reads the port: the device's buffer overflows, bytes are lost
                view = view[os.write(self._master, view) :]

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                self._stop.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except OSError:  # unplugged under us, or the host closed its side (EIO): wait for it
                self._stop.wait(0.05)
                continue
            if data:
                self._on_data(data)
