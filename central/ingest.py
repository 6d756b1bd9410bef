"""The collector: MQTT in, one database commit per batch, acknowledgements after the commit.

Theory of operation: paho (MQTT 5, manual acknowledgement, a persistent session with a stable
client id, a shared subscription) hands each message to `_received`, which only queues it (and
each new connection to `_connected`, queued in the same order). The writer thread feeds them to
central.intake's state machine, which cuts batches of up to `batch_max` messages or `batch_wait_ms`,
and says, once a batch is committed, what to acknowledge and which receipts to send. Each message
is checked (valid ones become rows, bad ones dead letters), the batch committed in one
transaction, and only then acknowledged. A crash before the commit leaves the messages
un-acknowledged in the session, and the broker delivers them again; the verdict id makes the
second delivery a no-op.

The broker stops sending when a client has its in-flight window of un-acknowledged messages, so
the queue here never holds more than that window and needs no other bound.

The database may be away, at start or mid-run (a restart, a failover, a full disk). The writer
then waits with growing delays and tries again, holding what it has un-acknowledged, and keeps
feeding systemd's watchdog from its waits: a central waiting for its database is working, not
hung. What it is doing is a `WriterState` (writer_state.py), read by /healthz and told in the log
once per change.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from central.config import CentralSettings, IngestSettings
from central.intake import DeviceKey, Intake, Message, Rejected, Stored, check
from central.sql import now, storage_error
from central.store import Batch, Conflict, Store
from central.writer_state import Health, Line, WriterState
from common import sdnotify
from common.backoff import Backoff
from common.mqtt import Client, new_client
from contract import signing, topics
from contract.messages import IdentityConflict, Receipt

log = logging.getLogger(__name__)


_CONNECTED = object()  # queued by `_connected`: what follows came on a new connection


RETIRE_QUIET_S = 2.0  # a retiring worker's session is drained once nothing came for this long


def calm_gc() -> None:
    """Tune the cycle collector for an ingest process, once its start-up is done. Each message makes a
    few hundred short-lived objects that form no cycles (parsed JSON, a model, a row); at Python's
    default threshold the collector then runs every few messages and scans what start-up made each
    time it reaches the old generation (bench/README: its share of ingest CPU). Start-up's objects are
    frozen out of its scans, and the young generation is collected every 50,000 allocations."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def worker_ids(ingest: IngestSettings) -> list[str]:
    """The client ids of this replica's ingest workers: `client_id`, then `client_id`-w2, -w3, …"""
    return [ingest.client_id] + [f"{ingest.client_id}-w{n}" for n in range(2, ingest.workers + 1)]


def retired_workers(ingest: IngestSettings, known: list[str]) -> list[str]:
    """Workers of this replica that an earlier run had (they committed here) and this one has not."""
    mine = re.compile(re.escape(ingest.client_id) + r"-w([0-9]+)")
    return sorted((k for k in known if (m := mine.fullmatch(k)) and int(m.group(1)) > ingest.workers),
                  key=lambda k: int(k.rsplit("-w", 1)[1]))


def worker_settings(settings: CentralSettings, client_id: str) -> CentralSettings:
    return settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"client_id": client_id})})


class Collector:
    """One ingest worker. `retiring`: connect to the session once more, leave the shared subscription,
    store what the session still holds, then end the session (`retired` says it was)."""

    def __init__(self, settings: CentralSettings, store: Store, *, retiring: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.retiring = retiring
        self.retired = False
        self.on_health: Callable[[Health], None] = lambda _health: None  # told at once of each change
        self._last_received = time.monotonic()
        self._signer = settings.downlink_signer()
        self.subscribed = threading.Event()  # connected, and the broker confirmed the subscriptions
        self.storage_ready = threading.Event()  # the database answered and its schema is current
        self.handled = 0  # messages committed (as rows or dead letters) and acknowledged by this process
        # paho's thread appends, the writer takes (a deque's append and popleft are thread-safe)
        self._inbox: deque[Message | object] = deque()
        self._arrived = threading.Event()
        self._intake = Intake(settings.ingest.batch_max, settings.ingest.batch_wait_ms / 1000)
        self._keys: dict[str, DeviceKey] = {}
        self._keys_at = 0.0
        self._known_topics: set[str] = set()  # uplink topics of boxes in `_keys`
        self._client: mqtt.Client | None = None
        self._state = WriterState(now())
        self._state_lock = threading.Lock()  # the writer, paho's thread and the web server all reach it
        self._heartbeat = sdnotify.Heartbeat()

    def health(self) -> Health:
        with self._state_lock:
            return self._state.health(now(), self._backlog())

    def _backlog(self) -> int:
        """Messages received and not yet committed: held un-acknowledged at the broker."""
        return len(self._inbox) + self._intake.backlog

    def run(self, stop: threading.Event) -> None:
        """Wait for the database (migrating it), then take messages until `stop`."""
        if not self._until_stored(stop, self.store.migrate):
            return
        self._event(lambda state: state.storage_ready(now()))
        self.storage_ready.set()
        ingest = self.settings.ingest
        client = new_client(self.settings.mqtt, ingest.client_id, manual_ack=True)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
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
        try:
            while not stop.is_set() and not self._drained():
                self._write_one_batch(client, stop)
                self._heartbeat.beat()  # only from this loop: a stuck writer stops the beat
        finally:
            client.on_disconnect = lambda *_: self.subscribed.clear()  # our own leaving is no news
            self.retired = self._drained()
            end = Properties(PacketTypes.DISCONNECT)
            end.SessionExpiryInterval = 0  # a retired worker's session goes with it
            client.disconnect(properties=end if self.retired else None)
            client.loop_stop()

    def _drained(self) -> bool:
        """A retiring worker is done: out of the subscription, nothing held, nothing new for a while."""
        return (self.retiring and self.subscribed.is_set() and self._backlog() == 0
                and time.monotonic() - self._last_received > RETIRE_QUIET_S)

    def _event(self, change: Callable[[WriterState], list[Line]]) -> None:
        """Feed the state machine; say what changed — to whoever serves /healthz first, then in the
        log and to systemd."""
        with self._state_lock:
            lines = change(self._state)
        if lines:
            self.on_health(self.health())
        for line in lines:
            log.log(line.level, line.msg, extra=line.fields)
        if lines:
            sdnotify.status(self.health().status)

    def _until_stored(self, stop: threading.Event, action: Callable[[], None]) -> bool:
        """Run the database `action` until it succeeds (True) or `stop` is set (False).

        While the database is away, wait with growing delays, feeding the watchdog. What the
        database refuses as data (an integrity or data error) is no outage: it goes to the caller.
        """
        backoff = Backoff(first=0.5, cap=10)
        while True:
            try:
                action()
                return True
            except (IntegrityError, DataError):
                raise
            except SQLAlchemyError as exc:
                self._event(functools.partial(_failed, reason=storage_error(exc), backlog=self._backlog()))
            if self._pause(stop, backoff.next_delay()):
                return False

    def _pause(self, stop: threading.Event, seconds: float) -> bool:
        """Wait `seconds` or until `stop` (then True), beating all the while."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._heartbeat.beat()
            if stop.wait(min(left, 1.0)):
                return True
        self._heartbeat.beat()
        return stop.is_set()

    def _connected(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the collector", extra={"reason": str(rc)})
            return
        log.info("collector connected", extra={"session_present": flags.session_present})
        self._inbox.append(_CONNECTED)
        self._arrived.set()
        wanted = topics.central_subscriptions(self.settings.ingest.group)
        if self.retiring:  # nothing new for this session; what it holds still arrives
            client.on_unsubscribe = self._subscribed
            client.unsubscribe(wanted)
        else:
            client.subscribe([(t, 1) for t in wanted])

    def _disconnected(self, _c: mqtt.Client, _u: Any, _flags: Any, rc: Any, _p: Any = None) -> None:
        self.subscribed.clear()
        self._event(lambda state: state.broker_lost(now(), str(rc)))

    def _subscribed(self, *_: Any) -> None:
        self.subscribed.set()
        self._event(lambda state: state.broker_subscribed(now()))

    def _received(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._last_received = time.monotonic()
        user = getattr(msg.properties, "UserProperty", None) or ()
        self._inbox.append(Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), ("replayed", "1") in user,
                                   mac_receipts=signing.RECEIPT_MAC in user))
        if not self._arrived.is_set():  # set() takes a lock and wakes waiters: once per wait is enough
            self._arrived.set()

    def _write_one_batch(self, client: Client, stop: threading.Event) -> None:
        intake = self._intake
        wait = intake.due_in(time.monotonic())
        if not self._inbox:
            self._arrived.wait(0.2 if wait is None else wait)
        self._arrived.clear()  # before taking: whatever arrives from now on sets it again
        while self._inbox:  # everything that has arrived, in order
            item = self._inbox.popleft()
            if item is _CONNECTED:
                intake.connected()
            else:
                assert isinstance(item, Message)
                intake.received(item, now=time.monotonic())
        messages = intake.take(time.monotonic())
        if not messages:
            return
        batch = self._commit(messages, stop)
        if batch is None:
            intake.abandoned(messages)  # stopping before they were stored: the broker sends them again
            return
        outcome = intake.committed(messages, [Stored(r["site"], r["device"], r["epoch"], r["seq"])
                                              for r in batch.verdicts])
        with client.one_wakeup():
            for mid, qos in outcome.acks:
                client.ack(mid, qos)
            self._send_receipts(client, outcome.receipts)
            self._refuse_twins(client, batch.conflicts)
        self.handled += len(messages)
        self._event(lambda state: state.committed_batch(now(), len(messages)))
        for dead in [*batch.dead, *(batch.samples[kind] for kind in batch.first_rejections)]:
            log.warning("dead letter", extra={"topic": dead["topic"][:200], "reason": dead["reason"][:300]})

    def _send_receipts(self, client: Client, receipts: dict[tuple[str, str, str], list[int]]) -> None:
        """Tell each box which of its verdicts are now stored, so it may delete them. A receipt deletes,
        so only central may write one: MAC'd with the box's key where its last status said it checks
        that, else signed with central's key (contract.signing)."""
        for (site, device, epoch), seqs in receipts.items():
            receipt = Receipt.of(device, seqs, epoch or None)
            key = self._keys.get(device)
            if key is not None and key.mac_receipts:
                wire = signing.sign(key.key, receipt)
            else:
                wire = signing.seal(self._signer, receipt)
            client.publish(topics.downlink(site, device, "receipt"), wire, qos=1)

    def _refuse_twins(self, client: Client, conflicts: list[Conflict]) -> None:
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

    def _commit(self, messages: list[Message], stop: threading.Event) -> Batch | None:
        """Store the batch; the messages stay un-acknowledged until this returns. None: `stop` came
        first, and nothing of the batch is stored.

        While the database is away the whole batch is retried (`_until_stored`). A row the
        database refuses as data (an integrity or data error) must not hold up the stream: the
        batch is then stored message by message, and the one refused becomes a dead letter with
        the database's reason.
        """
        try:
            return self._store(messages, stop)
        except _Refused:
            log.warning("the database refused a row; storing this batch message by message")
        stored = Batch(collector=self.settings.ingest.client_id)
        for m in messages:
            try:
                single = self._store([m], stop)
            except _Refused as exc:
                single = self._store([m], stop, refused=f"storage refused: {exc}")
            if single is None:
                return None
            stored.verdicts += single.verdicts
            stored.dead += single.dead
            stored.samples.update(single.samples)
            stored.first_rejections += single.first_rejections
            stored.conflicts += single.conflicts
        return stored

    def _store(self, messages: list[Message], stop: threading.Event, refused: str = "") -> Batch | None:
        """Check the messages and write them in one transaction (or, `refused`, the one message as
        a dead letter with that reason), waiting for the database while it is away."""
        done: list[Batch] = []

        def attempt() -> None:
            self._event(lambda state: state.write_started(now()))
            if refused:
                dead = _dead(messages[0], refused, self.settings.ingest.max_payload_bytes)
                batch = Batch(collector=self.settings.ingest.client_id, messages=1, dead=[dead])
            else:
                batch = self._rows(messages)  # inside the retry: it may read the registry
            try:
                batch.conflicts = self.store.write_batch(batch)
            except (IntegrityError, DataError) as exc:
                if refused:
                    raise  # a dead letter refused as well: a bug to see, not to loop on
                raise _Refused(storage_error(exc)) from exc
            done.append(batch)

        return done[0] if self._until_stored(stop, attempt) else None

    def _rows(self, messages: list[Message]) -> Batch:
        batch = Batch(collector=self.settings.ingest.client_id, messages=len(messages))
        limit = self.settings.ingest.max_payload_bytes
        keys = self._keys_for(messages)
        for m in messages:
            try:
                accepted = check(m.topic, m.payload, keys, max_bytes=limit, replayed=m.replayed)
            except Rejected as exc:
                where = topics.parse_uplink(m.topic)
                if where is not None and where.device in self._keys:  # a registered box: counted
                    kind = (where.device, str(exc)[:300])
                    batch.rejected[kind] = batch.rejected.get(kind, 0) + 1
                    revoked = self._keys[where.device].revoked  # its messages are not kept, not even one
                    batch.samples.setdefault(kind, _dead(m, str(exc), 0 if revoked else limit, exc.payload))
                else:
                    batch.dead.append(_dead(m, str(exc), limit, exc.payload))
                continue
            if accepted.kind == "verdict":
                batch.verdicts.append(accepted.row)
            elif accepted.kind == "diagnostics":
                batch.answers.append(accepted.row)
            elif accepted.kind == "status":
                batch.reports.append({**accepted.row, "mac_receipts": m.mac_receipts})
                keys[accepted.device] = replace(keys[accepted.device], mac_receipts=m.mac_receipts)  # from now on
            else:
                batch.reports.append(accepted.row)
        return batch

    def _keys_for(self, messages: list[Message]) -> dict[str, DeviceKey]:
        """The registry, re-read every 5 s (revocations take effect within that), and at most once a
        second when a message names a box not seen yet (one registered since the last look)."""
        age = time.monotonic() - self._keys_at
        if age > 5 or (age > 1 and any(self._unknown(m.topic) for m in messages)):
            self._keys = self.store.device_keys()
            self._keys_at = time.monotonic()
            self._known_topics = set()
        return self._keys

    def _unknown(self, topic: str) -> bool:
        """The topic names a box the registry, as last read, does not hold."""
        if topic in self._known_topics:
            return False
        where = topics.parse_uplink(topic)
        if where is not None and where.device in self._keys:
            self._known_topics.add(topic)
            return False
        return where is not None


def _failed(state: WriterState, reason: str, backlog: int) -> list[Line]:
    return state.storage_failed(now(), reason, backlog)


class _Refused(Exception):
    """The database will not take a row of the batch (its reason is the message)."""


def _dead(m: Message, reason: str, limit: int, payload: bytes | None = None) -> dict[str, Any]:
    """A dead letter; `payload`: what to keep instead of the message (one that carried what it must not)."""
    kept = m.payload if payload is None else payload
    return dict(received_at=datetime.now(UTC), topic=m.topic[:256], reason=reason, payload=kept[:limit])
