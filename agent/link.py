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

Also here, below the link: the publisher, which drains the outbox to central — the thin I/O shell
around agent.delivery's state machine. One thread does all of it, so the machine needs no lock:
paho's network thread only queues PUBACKs (Link.acks) and verified receipts (`receipt`), and wakes
the publisher. Each step feeds the machine what happened, deletes what central stored, reads what
the machine wants sent, and hands it to MQTT. agent.delivery explains when a row is sent, sent
again and deleted.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.delivery import Delivery, Report, RowInfo
from agent.outbox import Outbox
from common.mqtt import MqttSettings, new_client
from contract import signing, topics
from contract.messages import WILL_ORDER, BoxReport, DeviceState, Receipt, Status

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self, outbox_path: Path, link: Link, *, epoch: str | None, window: int = 500, resend_after_s: float = 30.0
    ) -> None:
        self._path = outbox_path
        self._link = link
        self._machine = Delivery(epoch=epoch, started_wall=time.time(), window=window, resend_after_s=resend_after_s)
        self._receipts: queue.SimpleQueue[Receipt] = queue.SimpleQueue()
        self._flush = threading.Event()
        self._seen_connections = 0

    @property
    def stored(self) -> int:
        """Rows central confirmed in this run."""
        return self._machine.stored

    @property
    def refused(self) -> int:
        """Messages the broker refused in this run (each stays in the outbox and goes again)."""
        return self._machine.refused

    def notify(self) -> None:
        """A new row was committed."""
        self._link.wakeup.set()

    def receipt(self, receipt: Receipt) -> None:
        """Called from the network thread with a receipt whose signature was checked."""
        self._receipts.put(receipt)
        self._link.wakeup.set()

    def flush(self) -> None:
        """Send every un-receipted row again now (the agent is stopping and drains its outbox)."""
        self._flush.set()
        self._link.wakeup.set()

    def run(self, stop: threading.Event) -> None:
        # Deleting receipted rows needs no fsync: one undone by a power cut is only sent again, and
        # a waiting fsync here would hold up the next verdict's commit (SQLite has one writer at a time).
        with Outbox(self._path, durable=False).open() as outbox:
            while not stop.is_set():
                self._link.wakeup.wait(0.5)
                self._link.wakeup.clear()
                self._step(outbox)
            self._settle(outbox)

    def _step(self, outbox: Outbox) -> None:
        machine, link = self._machine, self._link
        now = time.monotonic()
        if not link.connected.is_set():
            machine.disconnected()
        elif link.connections != self._seen_connections:
            self._seen_connections = link.connections
            machine.connected(now=now, wall=time.time())
        if self._flush.is_set():
            self._flush.clear()
            machine.flush(now=now)
        self._settle(outbox)
        want = machine.wants(now)
        if not want.resend and not want.fresh:
            return
        resend = {row.seq: row for row in outbox.rows(want.resend)}
        fresh = {row.seq: row for row in outbox.pending(after_seq=want.after_seq, limit=want.fresh)}
        rows = {**resend, **fresh}
        publish = machine.to_publish(
            [RowInfo(r.seq, r.created) for r in resend.values()], [RowInfo(r.seq, r.created) for r in fresh.values()]
        )
        resent = [p.seq for p in publish if p.seq in resend]
        if resent:
            log.warning("no receipt from central; sending again", extra={"rows": len(resent), "first_seq": resent[0]})
        for p in publish:
            row = rows[p.seq]
            machine.handed(p.seq, link.publish(row.topic, row.payload, replayed=p.replayed))

    def _settle(self, outbox: Outbox) -> None:
        """Feed the PUBACKs and receipts that arrived, and delete what central stored."""
        machine = self._machine
        now = time.monotonic()
        reports: list[Report] = []
        while not self._link.acks.empty():
            mid, accepted = self._link.acks.get()
            reports += machine.puback(mid, accepted, now=now)
        while not self._receipts.empty():
            receipt = self._receipts.get()
            reports += machine.receipt(receipt.epoch, receipt.seqs)
        for report in reports:
            log.log(logging.getLevelName(report.level.upper()), report.text, extra=report.fields)
        deletes = machine.take_deletes()
        try:
            machine.deleted(outbox.remove(deletes))
        except sqlite3.OperationalError as exc:  # a full disk: keep them and try again on the next step
            machine.delete_failed(deletes)
            log.error("cannot delete receipted verdicts yet", extra={"error": str(exc)})


log = logging.getLogger(__name__)

# built once: paho's Properties are slow to make (and to read: the statuses say it, not every verdict)
_REPLAYED = Properties(PacketTypes.PUBLISH)
_REPLAYED.UserProperty = [("replayed", "1")]
_STATUS = Properties(PacketTypes.PUBLISH)  # this box checks receipts MAC'd with its key (contract.signing)
_STATUS.UserProperty = [signing.RECEIPT_MAC]
_WILL = Properties(PacketTypes.WILLMESSAGE)
_WILL.UserProperty = [signing.RECEIPT_MAC]
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
        self._status_topic = topics.uplink(site, device, "status")  # its statuses carry _STATUS
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
            death = client.publish(self.topic("status"), self._death(), qos=1, retain=True, properties=_STATUS)
            death.wait_for_publish(2)
        client.disconnect()
        client.loop_stop()
        self._client = None

    def topic(self, kind: str) -> str:
        return topics.uplink(self.site, self.device, kind)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, replayed: bool = False) -> int:
        """Queue one QoS 1 message; returns its mid (its PUBACK arrives in `acks`)."""
        if self._client is None:
            raise RuntimeError("the link is not started")
        props = _REPLAYED if replayed else _STATUS if topic == self._status_topic else None
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
        client.will_set(self.topic("status"), self._death(connection), qos=1, retain=True, properties=_WILL)

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
