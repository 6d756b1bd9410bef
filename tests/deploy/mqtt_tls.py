"""A paho client that logs in the way a box or central does (TLS, password or certificate), and
records what happened to it: the CONNACK, SUBACKs, PUBACKs, disconnects and messages."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from common.mqtt import MqttSettings, new_client


@dataclass
class Session:
    client: mqtt.Client
    connack: queue.Queue[Any] = field(default_factory=queue.Queue)
    subacks: queue.Queue[Any] = field(default_factory=queue.Queue)
    messages: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def accepted(self, timeout: float = 5.0) -> bool:
        """True when the broker accepted the login; False when it refused or cut the connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return not self.connack.get(timeout=0.05).is_failure
            except queue.Empty:
                if self.disconnected.is_set():
                    return False
        raise AssertionError("neither CONNACK nor disconnect within the timeout")

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        self.subacks.get(timeout=5)

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)


@contextmanager
def session(settings: MqttSettings, client_id: str) -> Iterator[Session]:
    client = new_client(settings, client_id)
    s = Session(client)
    client.on_connect = lambda _c, _u, _f, rc, _p=None: s.connack.put(rc)
    client.on_subscribe = lambda _c, _u, _m, rcs, _p=None: s.subacks.put(rcs)
    client.on_message = lambda _c, _u, msg: s.messages.put(msg)
    client.on_disconnect = lambda *_: s.disconnected.set()
    client.reconnect_delay_set(30, 60)  # a refused client must not retry during the test
    try:
        client.connect(settings.host, settings.port)
    except (OSError, ConnectionError):  # the TLS handshake itself was refused (revoked certificate)
        s.disconnected.set()
        yield s
        return
    client.loop_start()
    try:
        yield s
    finally:
        client.disconnect()
        client.loop_stop()


def nothing_arrives(s: Session, within: float = 0.7) -> bool:
    try:
        msg = s.messages.get(timeout=within)
    except queue.Empty:
        return True
    raise AssertionError(f"unexpected message on {msg.topic}")
