"""Many boxes in one process, each a real MQTT 5 client of its own: the fleet benchmark's load.

    python -m bench.children.fleet SPEC_JSON

Each box has its own connection, client id, persistent session (clean start off, an hour's expiry),
a retained signed birth and a signed death as its will, and a subscription to its downlinks. It
publishes signed verdicts of its own life (epoch, seq from 1) at QoS 1, keeps each until central's
receipt names it (as the agent's outbox does) and notes the time from publishing to the receipt, and
when central's push of the risk areas (on the broadcast topic, retained) reached it.

Thousands of clients fit in one process because none has a thread: paho's external loop, one
selector over every socket, `loop_read` on what is readable and `loop_misc` once a second (paho
writes at once when no loop thread runs). Each birth says, as the agent's does, that the box checks
receipts MAC'd with its key (contract.signing), so central MACs them. Receipts are not checked here
(this is the load, not the box under test; the agent's own check is measured in the agent benchmark).

Protocol with the parent: "ready" once every box is connected and subscribed; then it waits for the
file `go` (so every child starts at once), publishes `rate` verdicts/s in all for `seconds`; with
`outage` set, a tenth of its boxes disconnect at a third of the run, keep deciding verdicts into
their backlog and come back at once `outage` seconds later, sending everything un-receipted (the
drain is timed from their return until the last of it is receipted). Then it waits until everything is
receipted (or `drain_timeout`) and prints one JSON line of results (times are perf_counter's, the
machine's monotonic clock, comparable with the parent's).
"""

from __future__ import annotations

import json
import secrets
import selectors
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from bench.children import ready, stdin_closed
from contract import idnumber, signing, topics
from contract.messages import (
    WILL_ORDER,
    CheckpointKind,
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    DeviceState,
    IdSource,
    Inputs,
    PersonInput,
    Reason,
    Status,
    TemperatureInput,
    Verdict,
)

_SAYS_MAC = Properties(PacketTypes.PUBLISH)  # on each birth, as the agent's: "MAC my receipts"
_SAYS_MAC.UserProperty = [signing.RECEIPT_MAC]


class Spec(BaseModel):
    port: int
    site: str
    boxes: list[tuple[str, str]]  # (device, key hex)
    rate: float  # verdicts per second, this process's boxes together
    seconds: float
    go_file: str
    outage: float = 0.0  # seconds a tenth of the boxes stay away; 0: no outage
    drain_timeout: float = 120.0


PSEUDONYM_KEY = b"f" * 32


@dataclass(eq=False)
class Box:
    device: str
    key: bytes
    site: str
    client: mqtt.Client
    epoch: str = field(default_factory=lambda: secrets.token_hex(8))
    seq: int = 0
    connection: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)  # seq -> when published, until receipted
    rows: dict[int, bytes] = field(default_factory=dict)  # seq -> the signed verdict, until receipted
    backlog: list[int] = field(default_factory=list)  # seqs decided while away
    owed: set[int] = field(default_factory=set)  # what it sends on return, until receipted
    online: bool = False
    subscribed: bool = False
    pushed_at: float | None = None  # when central's push (risk areas) reached it

    def socket(self) -> Any:
        sock = self.client.socket()
        assert sock is not None, f"{self.device} is not connected"
        return sock

    def report(self, state: DeviceState, order: int) -> bytes:
        status = Status(site=self.site, device=self.device, epoch=self.epoch, boot=1, connection=self.connection,
                        order=order, last_seq=self.seq, device_time=datetime.now(UTC), state=state)
        return signing.sign(self.key, status)

    def verdict(self, seq: int) -> bytes:
        number = f"11010519800101{seq % 1000:03d}"
        number += idnumber.check_character(number)
        return signing.sign(self.key, Verdict(
            id=uuid.uuid4(), site=self.site, device=self.device, epoch=self.epoch, seq=seq, boot=1,
            device_time=datetime.now(UTC), kind=CheckpointKind.TRAFFIC,
            inputs=Inputs(
                person=PersonInput(source=IdSource.CARD, pseudonym=idnumber.pseudonym(PSEUDONYM_KEY, number),
                                   id_masked=idnumber.mask(number)),
                code=CodeInput(colour=CodeColour.GREEN, source=ColourSource.SIGNED_PAYLOAD),
                temperature=TemperatureInput(body_c=36.6, object_c=36.1, offset_c=0.5, sensor="gy-mcu"),
            ),
            decision=Decision.PASS, reasons=[Reason.CODE_GREEN, Reason.TEMP_NORMAL], policy_version="bench-1",
        ))


class Fleet:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.selector = selectors.DefaultSelector()
        self.latencies: list[tuple[float, float]] = []  # (sent at, seconds to its receipt)
        self.owed = 0  # verdicts the returning boxes send at once, not yet receipted
        self.outage_verdicts = 0
        self.receipts = 0
        self.boxes = [self._box(device, bytes.fromhex(key)) for device, key in spec.boxes]
        self.away: list[Box] = []
        self.writers: set[Box] = set()
        self.drained_at = 0.0

    def _box(self, device: str, key: bytes) -> Box:
        box = Box(device, key, self.spec.site, mqtt.Client(mqtt.CallbackAPIVersion.VERSION2))
        self._new_client(box)
        return box

    def _new_client(self, box: Box) -> None:
        """A fresh paho client for each connection of the box (its session lives at the broker)."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=box.device, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(100)
        client.on_connect = lambda c, u, f, rc, p: self._connected(box, rc)
        client.on_subscribe = lambda *_: setattr(box, "subscribed", True)
        client.on_message = lambda c, u, m: self._downlink(box, m)
        box.client = client

    def connect(self, box: Box) -> None:
        box.connection += 1
        box.client.will_set(topics.uplink(box.site, box.device, "status"),
                            box.report(DeviceState.OFFLINE, WILL_ORDER), qos=1, retain=True)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        box.client.connect("127.0.0.1", self.spec.port, keepalive=60, clean_start=box.connection == 1,
                           properties=props)
        self.selector.register(box.socket(), selectors.EVENT_READ, box)
        box.online = False  # until its CONNACK

    def _connected(self, box: Box, rc: Any) -> None:
        if rc.is_failure:
            raise SystemExit(f"{box.device}: connection refused: {rc}")
        box.online = True
        box.client.publish(topics.uplink(box.site, box.device, "status"), box.report(DeviceState.ONLINE, 1),
                           qos=1, retain=True, properties=_SAYS_MAC)
        if box.connection == 1:
            box.client.subscribe([(t, 1) for t in topics.agent_subscriptions(box.site, box.device)])
        else:
            box.subscribed = True

    def _downlink(self, box: Box, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if message.topic == topics.broadcast("risk_areas"):
            box.pushed_at = box.pushed_at or now
            return
        if not message.topic.endswith("/receipt"):
            return
        self.receipts += 1
        for first, last in json.loads(message.payload)["seqs"]:
            for seq in range(first, last + 1):
                sent = box.sent_at.pop(seq, None)
                if sent is None:
                    continue
                del box.rows[seq]
                if seq in box.owed:
                    box.owed.discard(seq)
                    self.owed -= 1
                    if not self.owed:
                        self.drained_at = now
                else:
                    self.latencies.append((sent, now - sent))

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            key.data.client.loop_read()
            self.flush(key.data)
        for box in list(self.writers):
            self.flush(box)

    def flush(self, box: Box) -> None:
        """Write what paho queued (replies made inside its callbacks wait for this); a full socket
        buffer leaves the box in `writers` for the next pump."""
        if box.online and box.client.want_write():
            box.client.loop_write()
        if box.online and box.client.want_write():
            self.writers.add(box)
        else:
            self.writers.discard(box)

    def misc(self) -> None:
        for box in self.boxes:
            if box.online:
                box.client.loop_misc()
                self.flush(box)

    def publish(self, box: Box) -> None:
        box.seq += 1
        box.rows[box.seq] = box.verdict(box.seq)
        if not box.online:
            box.backlog.append(box.seq)
            return
        self._send(box, box.seq)

    def _send(self, box: Box, seq: int) -> None:
        box.sent_at[seq] = time.perf_counter()
        box.client.publish(topics.uplink(box.site, box.device, "verdict"), box.rows[seq], qos=1)
        self.flush(box)

    def go_offline(self, boxes: list[Box]) -> None:
        for box in boxes:
            self.selector.unregister(box.socket())
            box.client.disconnect()
            box.online = False
        self.away = boxes

    def come_back(self) -> float:
        t0 = time.perf_counter()
        for box in self.away:
            self._new_client(box)
            self.connect(box)
        while not all(box.online for box in self.away):
            self.pump(0.05)
        for box in self.away:  # as the agent does on return: all it holds un-receipted goes out at once
            box.owed = {*box.sent_at, *box.backlog}
            self.owed += len(box.owed)
            for seq in sorted(box.owed):
                self._send(box, seq)
            box.backlog.clear()
        self.outage_verdicts = self.owed
        return t0

    def pending(self) -> int:
        return sum(len(box.sent_at) + len(box.backlog) for box in self.boxes)


def main(spec: Spec) -> None:
    stop = stdin_closed()
    fleet = Fleet(spec)
    t0 = time.perf_counter()
    for box in fleet.boxes:
        fleet.connect(box)
        fleet.pump(0)
    while not all(box.online and box.subscribed for box in fleet.boxes):
        fleet.pump(0.05)
    connect_s = time.perf_counter() - t0
    ready()
    go = Path(spec.go_file)
    while not go.exists():
        fleet.pump(0.05)
    interval = 1.0 / spec.rate
    start = time.perf_counter()
    next_at, n, last_misc = start, 0, start
    outage_at = start + spec.seconds / 3 if spec.outage else float("inf")
    back_at = outage_at + spec.outage
    drain_from = 0.0
    while (now := time.perf_counter()) < start + spec.seconds:
        while next_at <= now:
            fleet.publish(fleet.boxes[n % len(fleet.boxes)])
            n += 1
            next_at += interval
        if now >= outage_at and not fleet.away:
            fleet.go_offline(fleet.boxes[:: 10])
        if now >= back_at and fleet.away and drain_from == 0.0:
            drain_from = fleet.come_back()
        if now - last_misc >= 1.0:
            fleet.misc()
            last_misc = now
        fleet.pump(max(0.0, min(next_at - time.perf_counter(), 0.01)))
    deadline = time.perf_counter() + spec.drain_timeout
    while fleet.pending() and time.perf_counter() < deadline:
        fleet.pump(0.05)
    drained_s = None  # from the boxes' return until the last of their verdicts was receipted
    if drain_from and fleet.outage_verdicts and not fleet.owed:
        drained_s = fleet.drained_at - drain_from
    print(json.dumps({
        "published": n, "unreceipted": fleet.pending(), "receipts": fleet.receipts,
        "latencies": fleet.latencies, "connect_s": connect_s,
        "outage_boxes": len(fleet.away), "outage_verdicts": fleet.outage_verdicts,
        "outage_drain_s": drained_s,
        "pushed_at": [box.pushed_at for box in fleet.boxes if box.pushed_at is not None],
    }), flush=True)
    stop.wait()
    for box in fleet.boxes:
        box.client.disconnect()


if __name__ == "__main__":
    main(Spec.model_validate_json(sys.argv[1]))
