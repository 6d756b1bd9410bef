"""The broker takes the box's login. (The clock and disk checks are the box's own: agent.doctor.)"""

from __future__ import annotations

import contextlib
import queue

from checkpoint.doctor.report import Check, State
from common.mqtt import MqttSettings, new_client


def broker(settings: MqttSettings, device: str, timeout_s: float = 8.0) -> Check:
    """Log in as the box does (its TLS and credentials), then leave without publishing anything."""
    how = "certificate" if settings.tls_cert else "password" if settings.username else "anonymous"
    where = f"{settings.host}:{settings.port} ({how}{', TLS' if settings.tls_ca else ', NO TLS'})"
    answer: queue.Queue[str | None] = queue.Queue(maxsize=1)  # the first answer is the one that counts
    try:
        client = new_client(settings, client_id=f"doctor-{device}")
    except OSError as exc:  # a TLS file named in agent.yaml is missing or unreadable
        return Check(name="broker", state=State.FAIL, detail=f"{where}: {exc.strerror or exc}: {exc.filename or ''}")
    client.on_connect = lambda _c, _u, _f, rc, _p=None: _offer(answer, str(rc) if rc.is_failure else None)
    client.on_disconnect = lambda _c, _u, _f, rc, _p=None: _offer(answer, f"disconnected ({rc})")
    try:
        client.connect(settings.host, settings.port, keepalive=10)
    except (OSError, ValueError) as exc:
        return Check(name="broker", state=State.FAIL, detail=f"{where}: {exc}")
    client.loop_start()
    try:
        refused = answer.get(timeout=timeout_s)
    except queue.Empty:
        refused = f"no answer within {timeout_s:.0f} s"
    finally:
        client.disconnect()
        client.loop_stop()
    if refused is not None:
        return Check(name="broker", state=State.FAIL, detail=f"{where}: login refused: {refused}")
    return Check(name="broker", state=State.OK, detail=f"{where}: login accepted")


def _offer(answer: queue.Queue[str | None], value: str | None) -> None:
    with contextlib.suppress(queue.Full):  # paho retrying after the first answer: already decided
        answer.put_nowait(value)
