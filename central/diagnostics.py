"""Remote diagnostics: an admin asks a box for its doctor report and its last log lines.

The request is a downlink signed with central's key (contract.messages.DiagnosticsRequest, not
retained: a box that is offline does not answer later), recorded before it is published so that
the answer, which may come back within milliseconds, always finds it. The box's answer arrives as
an uplink like its verdicts (checked by central.intake: size, shape, signature, no full ID
number) and is stored beside its request by the collector (central.store). Every request is in
the audit log. Each box's metrics history (the charts on its page) is read here too.

A user reaches only the boxes of the checkpoints in their scope (central.regions); a box outside
it is answered as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, delete, select

from central import audit
from central.auth import User
from central.push import PushError, publish
from central.regions import Scope
from central.schema import device_metrics, devices, diagnostics
from central.sql import now
from common.mqtt import MqttSettings
from common.settings import ConfigError
from contract import signing, topics
from contract.messages import DiagnosticsRequest


class CannotAsk(Exception):
    """The request was not sent: a revoked box, no downlink key, or no broker; the message says which."""


class NoSuchBox(CannotAsk):
    """No box of that name is registered."""


def visible(engine: Engine, scope: Scope, device: str) -> bool:
    """Whether the box is registered at a checkpoint in `scope`."""
    with engine.connect() as conn:
        return _box(conn, scope, device) is not None


def _box(conn: Connection, scope: Scope, device: str) -> tuple[str, bool] | None:
    """The box's site and whether it is revoked; None for a box not in `scope`."""
    query = select(devices.c.site, devices.c.revoked).where(devices.c.device == device, scope.site_in(devices.c.site))
    row = conn.execute(query).first()
    return (row.site, bool(row.revoked)) if row is not None else None


def ask(
    engine: Engine,
    mqtt: MqttSettings,
    signer: Callable[[], Ed25519PrivateKey],
    device: str,
    log_lines: int,
    user: User,
    scope: Scope,
    address: str,
) -> str:
    """Send a box a signed diagnostics request; its id (the answer names it)."""
    with engine.connect() as conn:
        box = _box(conn, scope, device)
    if box is None:
        raise NoSuchBox(f"no box {device} is registered")
    site, revoked = box
    if revoked:
        raise CannotAsk(f"box {device} is revoked")
    try:
        key = signer()
    except ConfigError as exc:
        raise CannotAsk(str(exc)) from None
    request = DiagnosticsRequest(id=uuid.uuid4(), device=device, log_lines=log_lines, issued_at=now())
    request_id = str(request.id)
    with engine.begin() as conn:
        conn.execute(diagnostics.insert().values(id=request_id, device=device, site=site, requested_by=user.username,
                                                 requested_at=request.issued_at, log_lines=log_lines))
    try:
        publish(mqtt, topics.downlink(site, device, "diagnostics"), signing.seal(key, request), retain=False)
    except PushError as exc:
        with engine.begin() as conn:
            conn.execute(delete(diagnostics).where(diagnostics.c.id == request_id))
        raise CannotAsk(str(exc)) from None
    with engine.begin() as conn:
        audit.record(conn, user.username, "diagnostics", device, f"{log_lines} log lines; {request_id}", address)
    return request_id


def requests(engine: Engine, device: str, limit: int = 5) -> Sequence[Any]:
    """The box's newest requests, answered or not, newest first."""
    query = (select(diagnostics).where(diagnostics.c.device == device)
             .order_by(diagnostics.c.requested_at.desc()).limit(limit))
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


def request(engine: Engine, device: str, request_id: str) -> dict[str, Any] | None:
    query = select(diagnostics).where(diagnostics.c.id == request_id, diagnostics.c.device == device)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def metrics_history(engine: Engine, device: str, since: datetime) -> Sequence[Any]:
    """The box's metrics since `since`, oldest first."""
    query = (select(device_metrics).where(device_metrics.c.device == device, device_metrics.c.received_at >= since)
             .order_by(device_metrics.c.received_at))
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


