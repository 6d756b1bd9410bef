"""The agent's figures and the host facts they read: a local Prometheus endpoint (/metrics on the
kiosk server) and the periodic MQTT metrics message come from the same counters.

Host facts: the box's CPU use, the SoC temperature, the free disk where the outbox lives, and
whether the system clock is synchronised (boxes without an RTC boot with a wrong time). The last asks the kernel
(adjtimex): NTP/chrony/systemd-timesyncd clear its "unsynchronised" state once they have set the
clock. Verdicts record the answer; their order never depends on the clock (sequence numbers do).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from contract.messages import Decision, Verdict

_TIME_ERROR = 5  # the kernel's answer when the clock is not synchronised


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


def clock_synchronised() -> bool:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    return int(libc.adjtimex(ctypes.byref(_Timex()))) not in (-1, _TIME_ERROR)


_HEALTH = {"ok": 1.0, "degraded": 0.5, "disconnected": 0.0}


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verdicts = Counter("checkpoint_verdicts", "Verdicts recorded", ["decision"], registry=self.registry)
        self.outbox_depth = Gauge(
            "checkpoint_outbox_depth", "Verdicts not yet stored at central", registry=self.registry
        )
        self.connected = Gauge("checkpoint_broker_connected", "1 while connected to the broker", registry=self.registry)
        self.device_health = Gauge(
            "checkpoint_device_health", "1 ok, 0.5 degraded, 0 disconnected", ["device"], registry=self.registry
        )
        self.disk_free = Gauge("checkpoint_disk_free_bytes", "Free disk where the outbox lives", registry=self.registry)
        self.cpu_temp = Gauge("checkpoint_cpu_temperature_celsius", "CPU temperature", registry=self.registry)
        self.counts: dict[Decision, int] = {}

    def verdict(self, verdict: Verdict) -> None:
        self.verdicts.labels(verdict.decision.value).inc()
        self.counts[verdict.decision] = self.counts.get(verdict.decision, 0) + 1

    def devices(self, health: dict[str, str]) -> None:
        for name, state in health.items():
            self.device_health.labels(name).set(_HEALTH.get(state, 0.0))


class CpuUse:
    """The whole box's CPU use between two readings of the kernel's counters (/proc/stat): busy time
    over all time, all cores together; None where there are no counters or no time passed."""

    def __init__(self, stat: Path = Path("/proc/stat")) -> None:
        self._stat = stat
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        """(busy, total) clock ticks since boot."""
        try:
            ticks = [int(v) for v in self._stat.read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        if len(ticks) < 4:
            return None
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and waiting for I/O
        return sum(ticks) - idle, sum(ticks)

    def percent(self) -> float | None:
        """Since the last call (or since this was made)."""
        last, now = self._last, self._read()
        self._last = now
        if last is None or now is None or now[1] <= last[1]:
            return None
        return round(min(100.0, max(0.0, 100.0 * (now[0] - last[0]) / (now[1] - last[1]))), 1)


def cpu_temperature_c(zone: Path = Path("/sys/class/thermal/thermal_zone0/temp")) -> float | None:
    """The SoC temperature where the board reports one (Raspberry Pi does), else None."""
    try:
        return int(zone.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def disk_free_mb(path: Path) -> float | None:
    """Free space where the outbox lives; None when that cannot be read (the directory is gone)."""
    try:
        return shutil.disk_usage(path).free / 1e6
    except OSError:
        return None
