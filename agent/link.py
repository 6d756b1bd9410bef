"""The agent's MQTT connection: birth on connect, death as the will, downlinks in, QoS 1 out.

paho runs its network loop in its own thread and reconnects by itself (`connect_async` +
`loop_start`), so the agent keeps working while the broker is away. Callbacks here only hand
events to the agent; they never block the network thread.

Every status and metrics message is stamped with this run's connection number and a running
`order`, and signed with the box's key (contract.messages.BoxReport says why central orders by
these and not by the box's clock). The will is set again before each connection, so the death
the broker publishes for a lost connection names exactly that connection.

Two boxes with one identity (one bundle installed twice) take each other's session every few
seconds. Mosquitto just closes the older connection (paho reports only "Unspecified error"), so
the link notices connections that keep ending moments after they began and says in words what
that usually means; when central names this box's life as the one to refuse (a signed
IdentityConflict), the link stops connecting and says so, and the box goes on recording.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.mqtt import MqttSettings, new_client, no_delay
from contract import signing, topics
from contract.messages import WILL_ORDER, BoxReport, DeviceState, Status

log = logging.getLogger(__name__)

_REPLAYED = Properties(PacketTypes.PUBLISH)  # built once: paho's Properties are slow to make
_REPLAYED.UserProperty = [("replayed", "1")]
SESSION_TAKEN_OVER = 142  # MQTT 5 reason code
SHORT_S = 10.0  # a connection that ends sooner than this after it began counts as cut short
FLAPPING = 3  # that many cut short within a minute: say what it usually means


class Link:
    """One MQTT session for one box."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        device: str,
        key: bytes,
        describe: Callable[[], Status],
        on_downlink: Callable[[str, bytes], None],
    ) -> None:
        self.site, self.device = site, device
        self._settings = settings
        self._key = key
        self._describe = describe
        self._on_downlink = on_downlink
        self.connected = threading.Event()
        self.acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()  # (mid, accepted) per PUBACK
        self.wakeup = threading.Event()  # set on connect and on every ack: the publisher has work
        self.connections = 0  # successful connects so far (a replay marker for the publisher)
        self.taken_over = 0  # times another client took this box's session
        self.refused: str | None = None  # why this box stopped connecting, in words
        self._connected_at = 0.0
        self._cut_short: list[float] = []  # when connections ended soon after they began
        self._order = 0
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = new_client(self._settings, client_id=f"agent-{self.site}-{self.device}")
        self._set_will(client, connection=1)
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
            client.publish(self.topic("status"), self._death(), qos=1, retain=True).wait_for_publish(2)
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

    def report(self, message: BoxReport, *, retain: bool = False) -> int:
        """Stamp a status or metrics message with this connection and the next order, sign, publish."""
        return self.publish(self.topic(message.type), self._signed(message), retain=retain)  # type: ignore[attr-defined]

    def publish_birth(self) -> None:
        self.report(self._describe(), retain=True)

    def publish_birth_if_connected(self) -> None:
        """Re-announce the box (its policy version changed, a device's health changed)."""
        if self.connected.is_set():
            self.publish_birth()

    def refuse(self, reason: str) -> None:
        """Stop connecting for good (central refused this box's life); the outbox keeps everything."""
        if self.refused is None:
            self.refused = reason
            log.error("stopped connecting to the broker: %s", reason)
        if self._client is not None:
            self._client.disconnect()  # from the network thread too: paho's loop then ends

    def _signed(self, message: BoxReport, order: int | None = None) -> bytes:
        with self._lock:
            self._order += 1
            stamp = {"connection": self.connections, "order": self._order if order is None else order}
        return signing.sign(self._key, message.model_copy(update=stamp))

    def _death(self, connection: int | None = None) -> bytes:
        death = self._describe().model_copy(update={"state": DeviceState.OFFLINE, "device_time": _now()})
        if connection is None:
            return self._signed(death, order=WILL_ORDER)
        return signing.sign(self._key, death.model_copy(update={"connection": connection, "order": WILL_ORDER}))

    def _set_will(self, client: mqtt.Client, connection: int) -> None:
        """The death the broker publishes if connection number `connection` is lost."""
        client.will_set(self.topic("status"), self._death(connection), qos=1, retain=True)

    # paho callbacks (network thread)

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection", extra={"reason": str(rc)})
            return
        if self.refused is not None:
            client.disconnect()
            return
        self.connections += 1
        self._connected_at = time.monotonic()
        no_delay(client)
        client.subscribe([(t, 1) for t in topics.agent_subscriptions(self.site, self.device)])
        self.publish_birth()
        self.connected.set()
        self.wakeup.set()
        log.info("connected to the broker",
                 extra={"host": self._settings.host, "port": self._settings.port, "connection": self.connections})

    def _disconnected(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self._set_will(client, connection=self.connections + 1)
        if self.refused is not None or not was_connected:
            return
        if not rc.is_failure:
            log.info("disconnected from the broker", extra={"reason": "this box disconnected"})
            return
        now = time.monotonic()
        if now - self._connected_at < SHORT_S:
            self._cut_short = [t for t in self._cut_short if now - t < 60] + [now]
        from_server = getattr(flags, "is_disconnect_packet_from_server", False)
        if from_server and getattr(rc, "value", None) == SESSION_TAKEN_OVER or len(self._cut_short) == FLAPPING:
            self.taken_over += 1
            log.error(
                "the broker keeps closing this box's connection moments after it opens: usually another box "
                "uses this box's identity (the same bundle installed twice) and takes its session; give each "
                "box its own (checkpoint provision)",
                extra={"client_id": f"agent-{self.site}-{self.device}", "times_in_a_minute": len(self._cut_short)},
            )
            return
        reason = f"the broker closed it: {rc}" if from_server else "the connection was lost (network or broker)"
        log.warning("disconnected from the broker", extra={"reason": reason})

    def _published(self, _c: mqtt.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.acks.put((mid, not rc.is_failure))
        self.wakeup.set()

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_downlink(msg.topic, bytes(msg.payload))


def _now() -> datetime:
    return datetime.now(UTC)
