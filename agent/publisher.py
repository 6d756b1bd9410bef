"""Drains the outbox to central: QoS 1, in order, a row deleted only once central has stored it.

Theory of operation. A row goes through three states, all but the first kept in memory only:
  waiting   in the outbox, not yet handed to paho in this run;
  in flight handed to paho (mid -> seq); paho re-sends it by itself after a reconnect;
  sent      the broker's PUBACK came. The row stays in the outbox until central's receipt.
The broker's PUBACK alone is not enough to delete: Mosquitto acknowledges before it has saved
anything, so a broker killed with SIGKILL forgets what it had. Central commits, acknowledges, and
then publishes a receipt; only the receipt deletes rows. A sent row without a receipt is handed
again after `resend_after_s`, doubling per attempt (central stores each verdict id once). On
start every row in the outbox is waiting again.

A row is marked "replayed" (an MQTT user property, outside the signature) when it waited for the
broker: committed before the current connection existed, or in an earlier run. A PUBACK that
refuses the message (an ACL, a quota) leaves its row in the outbox, counted in `refused`.
The mid -> seq map is touched only in this thread: paho's network thread just queues events.
"""

from __future__ import annotations

import heapq
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from agent.link import Link
from agent.outbox import Outbox, Row
from contract.messages import Receipt

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, outbox_path: Path, link: Link, *, window: int = 500, resend_after_s: float = 30.0) -> None:
        self._path = outbox_path
        self._link = link
        self._window = window
        self._resend_after = resend_after_s
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._sent: dict[int, float] = {}  # seq -> how long to wait for its receipt (doubles per resend)
        self._due: list[tuple[float, int]] = []  # heap of (resend at, seq); entries of receipted rows go stale
        self._receipts: queue.SimpleQueue[Receipt] = queue.SimpleQueue()
        self._flush = threading.Event()
        self._receipted: list[tuple[int, int]] = []  # ranges received, not yet deleted
        self._last_handed = 0
        self._started = time.time()
        self._connected_since = 0.0
        self._seen_connections = 0
        self.stored = 0  # rows central confirmed in this run
        self.refused = 0  # rows the broker refused in this run (kept in the outbox)

    def notify(self) -> None:
        """A new row was committed."""
        self._link.wakeup.set()

    def receipt(self, receipt: Receipt) -> None:
        """Called from the network thread with central's receipt."""
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
                self._settle(outbox)
                if self._link.connected.is_set():
                    self._hand_out(outbox)
            self._settle(outbox)

    def _settle(self, outbox: Outbox) -> None:
        now = time.monotonic()
        while not self._link.acks.empty():
            mid, accepted = self._link.acks.get()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue
            if accepted:
                if seq not in self._sent:
                    self._sent[seq] = self._resend_after
                    heapq.heappush(self._due, (now + self._resend_after, seq))
            else:
                self.refused += 1
                log.error("the broker refused a verdict; it stays in the outbox", extra={"seq": seq})
        while not self._receipts.empty():
            self._receipted += self._receipts.get().seqs
        try:
            self.stored += outbox.remove_ranges(self._receipted)
        except sqlite3.OperationalError as exc:  # a full disk: keep the receipts and try again later
            log.error("cannot delete receipted verdicts yet", extra={"error": str(exc)})
            return
        for first, last in self._receipted:
            if last - first < len(self._sent):
                for seq in range(first, last + 1):
                    self._sent.pop(seq, None)
            else:
                for seq in [s for s in self._sent if first <= s <= last]:
                    del self._sent[seq]
        self._receipted = []

    def _hand_out(self, outbox: Outbox) -> None:
        if self._link.connections != self._seen_connections:
            self._seen_connections = self._link.connections
            self._connected_since = time.time()
        room = self._window - len(self._inflight)
        due = self._due_resends(room)
        resend = outbox.rows(due)
        for seq in set(due) - {row.seq for row in resend}:
            del self._sent[seq]  # its receipt came while it was being sent again
        if resend:
            log.warning(
                "no receipt from central; sending again", extra={"rows": len(resend), "first_seq": resend[0].seq}
            )
        for row in resend:
            self._publish(row)
        room -= len(resend)
        if room > 0:
            for row in outbox.pending(after_seq=self._last_handed, limit=room):
                self._publish(row)
                self._last_handed = row.seq

    def _due_resends(self, room: int) -> list[int]:
        """Up to `room` sent rows whose receipt is overdue, in sequence order, rescheduled further out."""
        now = time.monotonic()
        if self._flush.is_set():
            self._flush.clear()
            self._due = [(now, seq) for seq in self._sent]
            heapq.heapify(self._due)
        due: list[int] = []
        while self._due and self._due[0][0] <= now and len(due) < room:
            _, seq = heapq.heappop(self._due)
            if seq not in self._sent:
                continue  # receipted since
            self._sent[seq] = wait = min(self._sent[seq] * 2, 1800.0)
            heapq.heappush(self._due, (now + wait, seq))
            due.append(seq)
        return sorted(due)

    def _publish(self, row: Row) -> None:
        replayed = row.created < self._connected_since or row.created < self._started
        mid = self._link.publish(row.topic, row.payload, replayed=replayed)
        self._inflight[mid] = row.seq
