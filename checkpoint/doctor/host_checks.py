"""The box's own checks: the broker takes its login, the clock is set, there is disk for the outbox."""

from __future__ import annotations

import contextlib
import queue
import shutil
from pathlib import Path

from agent import metrics
from checkpoint.doctor.report import Check, State
from common.mqtt import MqttSettings, new_client

DISK_FAIL_MB = 200
DISK_WARN_MB = 1000


def broker(settings: MqttSettings, device: str, timeout_s: float = 8.0) -> Check:
    """Log in as the box does (its TLS and credentials), then leave without publishing anything."""
    how = "certificate" if settings.tls_cert else "password" if settings.username else "anonymous"
    where = f"{settings.host}:{settings.port} ({how}{', TLS' if settings.tls_ca else ', NO TLS'})"
    answer: queue.Queue[str | None] = queue.Queue(maxsize=1)  # the first answer is the one that counts
    try:
        client = new_client(settings, client_id=f"doctor-{device}")
    except OSError as exc:  # a TLS file named in agent.yaml is missing or unreadable
        return Check("broker", State.FAIL, f"{where}: {exc.strerror or exc}: {exc.filename or ''}")
    client.on_connect = lambda _c, _u, _f, rc, _p=None: _offer(answer, str(rc) if rc.is_failure else None)
    client.on_disconnect = lambda _c, _u, _f, rc, _p=None: _offer(answer, f"disconnected ({rc})")
    try:
        client.connect(settings.host, settings.port, keepalive=10)
    except (OSError, ValueError) as exc:
        return Check("broker", State.FAIL, f"{where}: {exc}")
    client.loop_start()
    try:
        refused = answer.get(timeout=timeout_s)
    except queue.Empty:
        refused = f"no answer within {timeout_s:.0f} s"
    finally:
        client.disconnect()
        client.loop_stop()
    if refused is not None:
        return Check("broker", State.FAIL, f"{where}: login refused: {refused}")
    return Check("broker", State.OK, f"{where}: login accepted")


def _offer(answer: queue.Queue[str | None], value: str | None) -> None:
    with contextlib.suppress(queue.Full):  # paho retrying after the first answer: already decided
        answer.put_nowait(value)


def clock_check() -> Check:
    if metrics.clock_synchronised():
        return Check("clock", State.OK, "synchronised (NTP)")
    return Check(
        "clock",
        State.FAIL,
        "not synchronised: the box has no battery clock; check NTP "
        "(timedatectl status) and that the network reaches a time server",
    )


def disk(path: Path) -> Check:
    existing = next(p for p in [path, *path.parents] if p.exists())
    free_mb = shutil.disk_usage(existing).free / 1e6
    detail = f"{free_mb:,.0f} MB free at {existing}"
    if free_mb < DISK_FAIL_MB:
        return Check("disk", State.FAIL, detail + f" (needs {DISK_FAIL_MB} MB at least)")
    return Check("disk", State.WARN if free_mb < DISK_WARN_MB else State.OK, detail)
