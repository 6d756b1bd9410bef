"""The agent's MQTT connection: birth on connect, death as the will, downlinks in, QoS 1 out.

paho runs its network loop in its own thread and reconnects by itself (`connect_async` +
`loop_start`), so the agent keeps working while the broker is away. Callbacks here only hand
events to the agent; they never block the network thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import topics
from contract.messages import DeviceState, Status
from contract.mqtt import MqttSettings, new_client, no_delay

log = logging.getLogger(__name__)

_REPLAYED = Properties(PacketTypes.PUBLISH)  # built once: paho's Properties are slow to make
_REPLAYED.UserProperty = [("replayed", "1")]


class Link:
    """One MQTT session for one box."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        device: str,
        birth: Callable[[], Status],
        on_downlink: Callable[[str, bytes], None],
    ) -> None:
        self.site, self.device = site, device
        self._settings = settings
        self._birth = birth
        self._on_downlink = on_downlink
        self.connected = threading.Event()
        self.acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()  # (mid, accepted) per PUBACK
        self.wakeup = threading.Event()  # set on connect and on every ack: the publisher has work
        self.connections = 0  # successful connects so far (a replay marker for the publisher)
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = new_client(self._settings, client_id=f"agent-{self.site}-{self.device}")
        death = self._birth().model_copy(update={"state": DeviceState.OFFLINE, "device_time": _now()})
        client.will_set(self.topic("status"), death.model_dump_json(), qos=1, retain=True)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._message
        self._client = client  # before the loop starts: its callbacks publish through it
        client.connect_async(self._settings.host, self._settings.port, self._settings.keepalive_s)
        client.loop_start()

    def stop(self, *, graceful: bool = True) -> None:
        """Disconnect; a graceful stop publishes the death itself (the will is only for crashes)."""
        client = self._client
        if client is None:
            return
        if graceful and self.connected.is_set():
            death = self._birth().model_copy(update={"state": DeviceState.OFFLINE, "device_time": _now()})
            client.publish(self.topic("status"), death.model_dump_json(), qos=1, retain=True).wait_for_publish(2)
        client.disconnect()
        client.loop_stop()
        self._client = None

    def topic(self, kind: str) -> str:
        return topics.uplink(self.site, self.device, kind)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, replayed: bool = False) -> int:
        """Queue one QoS 1 message; returns its mid (its PUBACK arrives in `acks`)."""
        if self._client is None:
            raise RuntimeError("the link is not started")
        props = _REPLAYED if replayed else None
        return self._client.publish(topic, payload, qos=1, retain=retain, properties=props).mid

    def publish_birth(self) -> None:
        self.publish(self.topic("status"), self._birth().model_dump_json(), retain=True)

    def publish_birth_if_connected(self) -> None:
        """Re-announce the box (its policy version changed, a device's health changed)."""
        if self.connected.is_set():
            self.publish_birth()

    # paho callbacks (network thread)

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection", extra={"reason": str(rc)})
            return
        self.connections += 1
        no_delay(client)
        client.subscribe([(t, 1) for t in topics.agent_subscriptions(self.site, self.device)])
        self.publish_birth()
        self.connected.set()
        self.wakeup.set()
        log.info("connected to the broker", extra={"host": self._settings.host, "port": self._settings.port})

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker", extra={"reason": str(rc)})

    def _published(self, _c: mqtt.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.acks.put((mid, not rc.is_failure))
        self.wakeup.set()

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_downlink(msg.topic, bytes(msg.payload))


def _now() -> datetime:
    return datetime.now(UTC)
