"""A serial line at real speed between a simulated device and the driver: a pty relay.

Pseudo-terminals hand bytes over instantly and whole; a real line at 9600 baud takes about 1 ms a
byte (start, 8 data and stop bits), a USB adapter hands them over in pieces split anywhere, and a
noisy cable flips or drops bytes. `PacedLine` sits between a device simulator's port (`device`, the
path the simulator offers) and a new port of its own (`link`, which the driver opens): whatever one
side writes reaches the other no faster than `baud` allows, in chunks cut at random points, with
optional noise (a byte flipped or dropped, each with probability `noise`) and gaps (the line holds
still for `gap_s` with probability `gaps` per chunk). A driver that opens the link at another speed
than the line's gets garbage both ways, as from a real UART. Seeded, so a failing run can be replayed.
The simulator unplugging is passed on: the link's pair is closed and made again when it returns.
"""

from __future__ import annotations

import os
import random
import select
import termios
import threading
import time
import tty
from pathlib import Path


class PacedLine:
    """Relay `device` <-> `link` at `baud` (8N1), split at random points, with optional noise and gaps."""

    def __init__(
        self,
        device: Path | str,
        link: Path | str,
        baud: int,
        *,
        seed: int = 0,
        noise: float = 0.0,
        gaps: float = 0.0,
        gap_s: float = 0.05,
        max_chunk: int = 24,
    ) -> None:
        self.device, self.link, self.baud = Path(device), Path(link), baud
        self.noise, self.gaps, self.gap_s, self.max_chunk = noise, gaps, gap_s, max_chunk
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # the random source is shared by both directions
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self.flipped = self.dropped = self.held = self.misread = 0  # faults inserted, for the test to see
        self._speed = getattr(termios, f"B{baud}")

    @property
    def byte_s(self) -> float:
        return 10.0 / self.baud

    @property
    def path(self) -> str:
        return str(self.link)

    def __enter__(self) -> PacedLine:
        self._plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"paced:{self.link.name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unplug()
        self.link.unlink(missing_ok=True)

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master, termios.TCSANOW)
        tty.setraw(slave, termios.TCSANOW)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)
        self._master, self._slave = master, slave

    def _unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def _open_device(self) -> int | None:
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        tty.setraw(fd, termios.TCSANOW)
        return fd

    def _run(self) -> None:
        device: int | None = None
        while not self._stop.is_set():
            if device is None:
                device = self._open_device()
                if device is None:  # the simulator is unplugged: so is our link
                    if self._master is not None:
                        self._unplug()
                    self._stop.wait(0.05)
                    continue
                if self._master is None:
                    self._plug()
            assert self._master is not None
            try:
                ready, _, _ = select.select([device, self._master], [], [], 0.1)
                if device in ready:
                    self._deliver(os.read(device, 4096), self._master)
                if self._master in ready:
                    self._deliver(os.read(self._master, 4096), device)
            except OSError:  # the simulator unplugged (EIO on its side): close ours too, wait for it
                os.close(device)
                device = None
                self._unplug()

    def _deliver(self, data: bytes, to: int) -> None:
        """Write `data` to `to` at the line's speed, in random pieces, with the faults asked for."""
        if not data:
            raise OSError("end of file")
        start = time.monotonic()
        sent = 0
        view = bytes(data)
        assert self._master is not None
        if termios.tcgetattr(self._master)[5] != self._speed:  # the driver's UART runs at another speed
            with self._lock:
                view = bytes(self._random.randrange(256) for _ in view)
            self.misread += len(view)
        while view:
            with self._lock:
                size = self._random.randint(1, self.max_chunk)
                chunk = bytearray(view[:size])
                for i in range(len(chunk) - 1, -1, -1):
                    if self.noise and self._random.random() < self.noise:
                        if self._random.random() < 0.5:
                            chunk[i] ^= 1 << self._random.randrange(8)
                            self.flipped += 1
                        else:
                            del chunk[i]
                            self.dropped += 1
                hold = self.gaps and self._random.random() < self.gaps
            view = view[size:]
            sent += size
            due = start + sent * self.byte_s  # the last byte of this piece has crossed the line
            if hold:
                self.held += 1
                start += self.gap_s
                due += self.gap_s
            time.sleep(max(0.0, due - time.monotonic()))
            written = 0
            while written < len(chunk):
                written += os.write(to, chunk[written:])
