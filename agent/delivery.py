"""The way from the outbox to central, as a state machine: events in, actions out, no I/O, no clock.

Theory of operation. A row of the outbox goes through these states, all kept here in memory:

  waiting    in the outbox, not handed to MQTT in this run (every row is, at start);
  in flight  handed to MQTT as message `mid`; paho sends it again by itself after a reconnect;
  sent       the broker's PUBACK came; the row waits for central's receipt until its resend time;
  deleting   central's receipt named it: the shell deletes it from the outbox.

The broker's PUBACK alone never deletes a row: a Mosquitto killed with SIGKILL forgets what it
had acknowledged but not yet saved. Central commits, then sends a signed receipt; a receipt
deletes only rows of this box's life that were handed out in this run and that it names, so a
receipt can never remove a verdict that has not left the box (a receipt may come before the
PUBACK: the row is deleted all the same, and the late PUBACK is ignored). A sent row without a
receipt is handed out again after `resend_after_s`, doubling per attempt up to `max_wait_s`, and
at once after a reconnect (receipts sent while the box was away are lost with its session);
central stores each verdict once, so a resend racing a late receipt costs only bandwidth. A PUBACK
that refuses a message (an ACL, a quota) schedules it again like a missing receipt.

The shell (agent.link) feeds the events — `connected`, `disconnected`, `handed`, `puback`,
`receipt`, `flush` — asks `wants(now)` which rows to read, hands what `to_publish` returns to
MQTT, and deletes what `take_deletes` returns. Times are the shell's monotonic seconds, except
`connected(wall=...)`, which marks rows committed before the connection as replayed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Report:
    """Something worth one log line, in words."""

    level: str  # "info" | "warning" | "error"
    text: str
    fields: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Want:
    """Rows the shell should read from the outbox: these resends, then up to `fresh` rows after `after_seq`."""

    resend: list[int]
    after_seq: int
    fresh: int


@dataclass(frozen=True)
class RowInfo:
    seq: int
    created: float  # wall-clock seconds when it was committed


@dataclass(frozen=True)
class Publish:
    seq: int
    replayed: bool  # committed before this connection (or this run): it waited for the broker


class Delivery:
    def __init__(
        self, *, epoch: str | None, started_wall: float, window: int = 500,
        resend_after_s: float = 30.0, max_wait_s: float = 1800.0,
    ) -> None:
        self.epoch = epoch
        self._window = window
        self._resend_after = resend_after_s
        self._max_wait = max_wait_s
        self._started_wall = started_wall
        self._connected_wall = started_wall
        self._connected = False
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._handed: set[int] = set()  # seqs in flight
        self._sent: dict[int, tuple[float, float]] = {}  # seq -> (wait for its receipt, resend at)
        self._due: list[tuple[float, int]] = []  # heap of (resend at, seq); entries not in _sent go stale
        self._asked: list[int] = []  # resends asked for by the last `wants`
        self._deleting: set[int] = set()
        self._last_fresh = 0  # the highest seq handed out as a new row in this run
        self.stored = 0  # rows central confirmed and the outbox deleted, in this run
        self.refused = 0  # messages the broker refused, in this run (each goes again later)

    # events

    def connected(self, *, now: float, wall: float) -> None:
        """A new MQTT connection: sent rows without a receipt go again now."""
        self._connected = True
        self._connected_wall = wall
        self.flush(now=now)

    def disconnected(self) -> None:
        self._connected = False

    def handed(self, seq: int, mid: int) -> None:
        """The shell gave row `seq` to MQTT as message `mid`."""
        self._inflight[mid] = seq
        self._handed.add(seq)

    def puback(self, mid: int, accepted: bool, *, now: float) -> list[Report]:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return []
        self._handed.discard(seq)
        if seq in self._deleting:
            return []  # central's receipt came before the broker's PUBACK
        if seq not in self._sent:
            self._schedule(seq, self._resend_after, now)
        if accepted:
            return []
        self.refused += 1
        return [Report("error", "the broker refused a verdict; it stays in the outbox and goes again later",
                       {"seq": seq, "retry_in_s": round(self._sent[seq][1] - now, 1)})]

    def receipt(self, epoch: str | None, ranges: list[tuple[int, int]]) -> list[Report]:
        """Central stored the named rows of life `epoch`: delete those handed out in this run."""
        if epoch != self.epoch:
            return [Report("warning", "ignoring a receipt for another life of this box",
                           {"receipt_epoch": epoch, "epoch": self.epoch})]
        out = self._sent.keys() | self._handed
        for first, last in ranges:
            if last - first + 1 <= len(out):
                hits = {s for s in range(first, last + 1) if s in out}
            else:
                hits = {s for s in out if first <= s <= last}
            for seq in hits:
                self._sent.pop(seq, None)
            self._deleting |= hits
            out = out - hits
        return []

    def flush(self, *, now: float) -> None:
        """Every sent row without a receipt is due now (a reconnect; the agent stopping)."""
        for seq, (wait, _) in self._sent.items():
            self._sent[seq] = (wait, now)
        self._due = [(now, seq) for seq in self._sent]
        heapq.heapify(self._due)

    # what the shell does next

    def take_deletes(self) -> list[int]:
        """Rows to delete from the outbox now; give them back with `delete_failed` if that fails."""
        seqs = sorted(self._deleting)
        self._deleting.clear()
        return seqs

    def deleted(self, count: int) -> None:
        self.stored += count

    def delete_failed(self, seqs: list[int]) -> None:
        self._deleting.update(seqs)

    def wants(self, now: float) -> Want:
        """What to read from the outbox: overdue resends first, then new rows, within the window."""
        room = self._window - len(self._inflight)
        self._asked = []
        if not self._connected or room <= 0:
            return Want([], self._last_fresh, 0)
        while self._due and self._due[0][0] <= now and len(self._asked) < room:
            at, seq = heapq.heappop(self._due)
            wait, due = self._sent.get(seq, (0.0, -1.0))
            if due != at or seq in self._handed:
                continue  # receipted, rescheduled, or already on its way again
            self._schedule(seq, min(wait * 2, self._max_wait), now)
            self._asked.append(seq)
        self._asked.sort()
        return Want(list(self._asked), self._last_fresh, room - len(self._asked))

    def to_publish(self, resend: list[RowInfo], fresh: list[RowInfo]) -> list[Publish]:
        """What to hand to MQTT, given the rows read for the last `wants`."""
        found = {r.seq for r in resend}
        for seq in self._asked:
            if seq not in found:
                self._sent.pop(seq, None)  # no longer in the outbox: nothing left to send
        out = [Publish(r.seq, self._replayed(r)) for r in resend if r.seq in self._sent]
        for r in fresh:
            if r.seq > self._last_fresh:
                out.append(Publish(r.seq, self._replayed(r)))
                self._last_fresh = r.seq
        self._asked = []
        return out

    def _schedule(self, seq: int, wait: float, now: float) -> None:
        self._sent[seq] = (wait, now + wait)
        heapq.heappush(self._due, (now + wait, seq))

    def _replayed(self, row: RowInfo) -> bool:
        return row.created < self._connected_wall or row.created < self._started_wall

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def awaiting_receipt(self) -> int:
        return len(self._sent)
