"""A plain paho client for tests: publish and wait, or collect what arrives on a topic; and waiting for a
condition."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from checkpoint.broker import Broker

T = TypeVar("T")


@contextmanager
def client(broker: Broker, client_id: str = "", **auth: str) -> Iterator[mqtt.Client]:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if auth:
        c.username_pw_set(auth["username"], auth.get("password"))
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        yield c
    finally:
        c.disconnect()
        c.loop_stop()


def publish(c: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False,
            user: list[tuple[str, str]] | None = None) -> None:
    """QoS 1, waiting for the PUBACK; `user`: MQTT 5 user properties."""
    props = None
    if user:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = user
    info = c.publish(topic, payload, qos=1, retain=retain, properties=props)
    info.wait_for_publish(timeout=5)
    assert info.is_published(), f"no PUBACK for {topic}"


@contextmanager
def collect(broker: Broker, topic: str) -> Iterator[queue.Queue[mqtt.MQTTMessage]]:
    """Subscribe to `topic` and yield a queue receiving every message."""
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = queue.Queue[int]()
    with client(broker) as c:
        c.on_message = lambda _c, _u, msg: got.put(msg)
        c.on_subscribe = lambda *_: subscribed.put(1)
        c.subscribe(topic, qos=1)
        subscribed.get(timeout=5)
        yield got


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition", every: float = 0.05) -> T:
    """Ask `predicate` `every` seconds until it answers something true, and return that: the tests' one
    way to wait (a costly question, such as a database query, is asked less often)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
