"""The collector: MQTT in, one database commit per batch, acknowledgements after the commit.

Theory of operation: paho (MQTT 5, manual acknowledgement, a persistent session with a stable
client id, a shared subscription) hands each message to `_received`, which only queues it. The
writer thread takes up to `batch_max` messages or waits `batch_wait_ms`, checks each (valid ones
become rows, bad ones dead letters), commits them in one transaction, and only then acknowledges
every message of the batch. A crash before the commit leaves the messages un-acknowledged in the
session, and the broker delivers them again; the verdict id makes the second delivery a no-op.

The broker stops sending when a client has its in-flight window of un-acknowledged messages, so
the queue here never holds more than that window and needs no other bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from central.config import CentralSettings
from central.store import Batch, Conflict, DeviceKey, Store
from central.validate import Rejected, check
from checkpoint import sdnotify
from checkpoint.backoff import Backoff
from contract import signing, topics
from contract.messages import IdentityConflict, Receipt
from contract.mqtt import new_client, no_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    mid: int
    qos: int
    topic: str
    payload: bytes
    replayed: bool


class Collector:
    def __init__(self, settings: CentralSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._signer = settings.downlink_signer()
        self.subscribed = threading.Event()  # connected, and the broker confirmed the subscriptions
        self.handled = 0  # messages committed (as rows or dead letters) and acknowledged by this process
        self._inbox: queue.Queue[Received] = queue.Queue()
        self._keys: dict[str, DeviceKey] = {}
        self._keys_at = 0.0
        self._client: mqtt.Client | None = None

    def run(self, stop: threading.Event) -> None:
        ingest = self.settings.ingest
        client = new_client(self.settings.mqtt, ingest.client_id, manual_ack=True)
        client.on_connect = self._connected
        client.on_disconnect = lambda *_: self.subscribed.clear()
        client.on_subscribe = self._subscribed
        client.on_message = self._received
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = ingest.session_expiry_s
        props.ReceiveMaximum = min(65535, max(ingest.batch_max * 2, 20))
        client.connect_async(
            self.settings.mqtt.host,
            self.settings.mqtt.port,
            self.settings.mqtt.keepalive_s,
            clean_start=False,
            properties=props,
        )
        client.loop_start()
        self._client = client
        beat = sdnotify.watchdog_interval()
        last_beat = 0.0
        try:
            while not stop.is_set():
                self._write_one_batch(client)
                if beat is not None and time.monotonic() - last_beat >= beat:
                    sdnotify.watchdog()  # only from this loop: a stuck writer stops the beat
                    last_beat = time.monotonic()
        finally:
            client.disconnect()
            client.loop_stop()

    def _connected(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the collector", extra={"reason": str(rc)})
            return
        log.info("collector connected", extra={"session_present": flags.session_present})
        no_delay(client)
        client.subscribe([(t, 1) for t in topics.central_subscriptions(self.settings.ingest.group)])

    def _subscribed(self, *_: Any) -> None:
        self.subscribed.set()
        sdnotify.ready("collector subscribed")

    def _received(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        user = dict(getattr(msg.properties, "UserProperty", []) or [])
        self._inbox.put(Received(msg.mid, msg.qos, msg.topic, bytes(msg.payload), user.get("replayed") == "1"))

    def _write_one_batch(self, client: mqtt.Client) -> None:
        ingest = self.settings.ingest
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return
        messages = [first]
        deadline = time.monotonic() + ingest.batch_wait_ms / 1000
        while len(messages) < ingest.batch_max:
            try:
                messages.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        batch, conflicts = self._commit(messages)
        for m in messages:
            if m.qos > 0:
                client.ack(m.mid, m.qos)
        self.handled += len(messages)
        self._send_receipts(client, batch)
        self._refuse_twins(client, conflicts)

    def _send_receipts(self, client: mqtt.Client, batch: Batch) -> None:
        """Tell each box which of its verdicts are now stored, so it may delete them (signed: a
        receipt deletes, so only central may write one)."""
        stored: dict[tuple[str, str, str], list[int]] = {}
        for row in batch.verdicts:
            stored.setdefault((row["site"], row["device"], row["epoch"]), []).append(row["seq"])
        for (site, device, epoch), seqs in stored.items():
            receipt = Receipt.of(device, seqs, epoch or None)
            client.publish(topics.downlink(site, device, "receipt"), signing.seal(self._signer, receipt), qos=1)

    def _refuse_twins(self, client: mqtt.Client, conflicts: list[Conflict]) -> None:
        """Two boxes with one identity: tell the one seen second to stop (retained, so it hears it on
        every connect until it is given its own identity)."""
        for c in conflicts:
            log.error(
                "two boxes are using one identity (the same bundle installed twice?): the one seen second "
                "is told to stop sending; give it its own identity with `checkpoint provision`",
                extra={"site": c.site, "device": c.device, "kept_life": c.kept, "refused_life": c.refused},
            )
            message = IdentityConflict(device=c.device, refused=c.refused, kept=c.kept, issued_at=datetime.now(UTC))
            client.publish(topics.downlink(c.site, c.device, "conflict"), signing.seal(self._signer, message),
                           qos=1, retain=True)

    def _commit(self, messages: list[Received]) -> tuple[Batch, list[Conflict]]:
        """Store the batch; the messages stay un-acknowledged until this returns.

        While the database is away (connection lost, a deadlock, a failover) the whole batch is
        retried with growing delays. A row the database refuses as data (an integrity or data
        error) must not hold up the stream: the batch is then stored message by message, and the
        one refused becomes a dead letter with the database's reason.
        """
        batch = self._rows(messages)
        try:
            return batch, self._write(batch)
        except _Refused:
            log.exception("the database refused a row; storing this batch message by message")
        stored = Batch(collector=batch.collector)
        conflicts: list[Conflict] = []
        for m in messages:
            single = self._rows([m])
            try:
                conflicts += self._write(single)
            except _Refused as exc:
                dead = _dead(m, f"storage refused: {exc}", self.settings.ingest.max_payload_bytes)
                single = Batch(collector=batch.collector, messages=1, dead=[dead])
                self._write(single)
            stored.verdicts += single.verdicts
        return stored, conflicts

    def _write(self, batch: Batch) -> list[Conflict]:
        backoff = Backoff(first=0.5, cap=10)
        while True:
            try:
                return self.store.write_batch(batch)
            except (IntegrityError, DataError) as exc:
                raise _Refused(str(exc.orig or exc).splitlines()[0][:500]) from exc
            except SQLAlchemyError:
                delay = backoff.next_delay()
                log.exception("database write failed; retrying the batch", extra={"retry_in_s": delay})
                time.sleep(delay)

    def _rows(self, messages: list[Received]) -> Batch:
        batch = Batch(collector=self.settings.ingest.client_id, messages=len(messages))
        limit = self.settings.ingest.max_payload_bytes
        for m in messages:
            try:
                accepted = check(m.topic, m.payload, self._keys_for(m.topic), max_bytes=limit, replayed=m.replayed)
            except Rejected as exc:
                log.warning("dead letter", extra={"topic": m.topic[:200], "reason": str(exc)[:300]})
                batch.dead.append(_dead(m, str(exc), limit, exc.payload))
                continue
            if accepted.kind == "verdict":
                batch.verdicts.append(accepted.row)
            else:
                batch.reports.append(accepted.row)
        return batch

    def _keys_for(self, topic: str) -> dict[str, DeviceKey]:
        """The registry, re-read every 5 s (revocations take effect within that), and at most once a
        second when a message names a box not seen yet (one registered since the last look)."""
        age = time.monotonic() - self._keys_at
        where = topics.parse_uplink(topic)
        if age > 5 or (age > 1 and where is not None and where.device not in self._keys):
            self._keys = self.store.device_keys()
            self._keys_at = time.monotonic()
        return self._keys


class _Refused(Exception):
    """The database will not take a row of the batch (its reason is the message)."""


def _dead(m: Received, reason: str, limit: int, payload: bytes | None = None) -> dict[str, Any]:
    kept = m.payload if payload is None else payload
    return dict(received_at=datetime.now(UTC), topic=m.topic[:256], reason=reason, payload=kept[:limit])
