"""Drains the outbox to central: the thin I/O shell around agent.delivery's state machine.

One thread does all of it, so the machine needs no lock: paho's network thread only queues
PUBACKs (Link.acks) and verified receipts (`receipt`), and wakes this one. Each step feeds the
machine what happened, deletes what central stored, reads what the machine wants sent, and hands
it to MQTT. agent.delivery explains when a row is sent, sent again and deleted.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from agent.delivery import Delivery, Report, RowInfo
from agent.link import Link
from agent.outbox import Outbox
from contract.messages import Receipt

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
