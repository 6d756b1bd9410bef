"""Pushing the watch-list, the risk areas and the policy to every box, as retained messages.

A push is published (QoS 1, retained, on the broadcast topic) by a short-lived MQTT client of
its own, so that any replica's web server can do it without sharing the collector's connection;
it counts as done once the broker acknowledged it. Then it is recorded, with who did it, in the
push history and the audit log. Every push is signed with central's downlink key: the boxes obey
nothing else. A box that connects later still gets the newest push (retained),
and keeps it across restarts (agent.downlinks).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, select

from central import audit
from central.auth import User
from central.regions import Scope
from central.schema import pushes
from common.mqtt import MqttSettings, new_client
from common.settings import ConfigError
from contract import signing, topics
from contract.messages import PolicyPush, RegistrationsPush, RiskAreasPush, WatchlistPush

Push = WatchlistPush | RiskAreasPush | PolicyPush | RegistrationsPush
P = TypeVar("P", bound=Push)


class PushError(Exception):
    """The broker could not be reached or did not acknowledge the push."""


def version_stamp(what: str, at: datetime) -> str:
    return f"{what}-{at.strftime('%Y%m%d-%H%M%S')}"


def publish_retained(settings: MqttSettings, topic: str, payload: bytes, timeout_s: float = 10) -> None:
    publish(settings, topic, payload, retain=True, timeout_s=timeout_s)


def publish(settings: MqttSettings, topic: str, payload: bytes, *, retain: bool, timeout_s: float = 10) -> None:
    """One QoS 1 message, done once the broker acknowledged it (PushError otherwise)."""
    client = new_client(settings, f"central-push-{secrets.token_hex(4)}")
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    try:
        client.connect(settings.host, settings.port, settings.keepalive_s)
    except OSError as exc:
        raise PushError(f"broker {settings.host}:{settings.port} unreachable: {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise PushError("the broker did not accept the connection")
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise PushError("the broker did not acknowledge the push")
    finally:
        client.disconnect()
        client.loop_stop()


class Pusher:
    def __init__(self, engine: Engine, mqtt_settings: MqttSettings, signer: Callable[[], Ed25519PrivateKey]) -> None:
        self.engine = engine
        self.mqtt = mqtt_settings
        self._signer = signer  # asked at push time: a central without a key still serves its pages

    def push(self, message: Push, user: User, address: str, entries: int, note: str = "") -> None:
        self.push_built(lambda _conn: (message, entries), user, address, note)

    def push_built(self, build: Callable[[Connection], tuple[P, int]], user: User, address: str, note: str = "") -> P:
        """Build the message inside the transaction that records it (what it holds is then what was
        stored), publish it, and commit only once the broker has it: a push that fails stores nothing."""
        try:
            signer = self._signer()
        except ConfigError as exc:
            raise PushError(str(exc)) from None
        with self.engine.begin() as conn:
            message, entries = build(conn)
            publish_retained(self.mqtt, topics.broadcast(message.type), signing.seal(signer, message))
            conn.execute(
                pushes.insert().values(
                    what=message.type, version=message.version, issued_at=message.issued_at,
                    username=user.username, entries=entries, document=message.model_dump(mode="json"),
                )
            )
            audit.record(conn, user.username, f"push_{message.type}", message.version,
                         f"{entries} entries{'; ' + note if note else ''}", address)
        return message

    def history(self, scope: Scope, what: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest pushes (every office's boxes run them); who pushed, when they stand in `scope`."""
        columns = [c if c.name != "username" else scope.writer(c) for c in pushes.c if c.name != "document"]
        query = select(*columns).order_by(pushes.c.id.desc()).limit(limit)
        if what is not None:
            query = query.where(pushes.c.what == what)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def current(self, what: str) -> dict[str, Any] | None:
        """The document of the newest push of a kind (for the policy editor)."""
        query = select(pushes.c.document).where(pushes.c.what == what).order_by(pushes.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            return conn.scalar(query)
