"""systemd's notify protocol, without a dependency: tell the service manager we are ready, alive,
or stopping.

A unit with `Type=notify` passes the path of a datagram socket in NOTIFY_SOCKET (a leading '@'
means Linux's abstract namespace); each message is one datagram of `KEY=value` lines. With
`WatchdogSec=`, systemd also sets WATCHDOG_USEC and kills and restarts the service when no
`WATCHDOG=1` arrives within that time: send it from the loop whose progress proves the service
works, at about half the interval (`watchdog_interval()`). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


def notify(*fields: str) -> bool:
    """Send `fields` (e.g. "READY=1", "STATUS=...") to systemd; False when not run by systemd, or
    when its socket is full: the message is dropped rather than waited for, because the callers are
    the loops that do the work (a collector blocked on a busy service manager would stop collecting;
    a missed beat is told again half a watchdog interval later)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
        try:
            sock.sendto("\n".join(fields).encode(), address)
        except BlockingIOError:
            return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """What `systemctl status` shows beside the unit's state."""
    return notify(f"STATUS={text}")


def watchdog_interval() -> float | None:
    """Seconds between two `watchdog()` calls (half the unit's WatchdogSec), or None without one."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class Heartbeat:
    """WATCHDOG=1 at most every half WatchdogSec, however often `beat` is called: call it from every
    turn of the loop whose progress proves the service works, including the turns that wait."""

    def __init__(self) -> None:
        self.interval = watchdog_interval()
        self._last = 0.0

    def beat(self) -> None:
        if self.interval is not None and time.monotonic() - self._last >= self.interval:
            watchdog()
            self._last = time.monotonic()
