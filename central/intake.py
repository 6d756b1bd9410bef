"""The collector's batch, acknowledge and receipt step, as a state machine: events in, actions out,
no I/O, no clock.

Theory of operation. Messages arrive (`received`) tagged with the MQTT connection they came on.
`take(now)` cuts a batch once `batch_max` messages wait or the oldest has waited `batch_wait_s`.
The shell stores the batch in one transaction and says which verdicts it stored (`committed`):
only then are the batch's messages acknowledged, and each box is sent a receipt naming what of it
is stored, per life (central.lives). A batch the shell gives up on (`abandoned`, e.g. stopping
while the database is away) is acknowledged never: the broker delivers it again.

What is acknowledged is what came on the *current* connection, each packet id once. After a
reconnect the broker hands again, under the same packet ids, whatever was not acknowledged; a
copy from the old connection still waiting here must not be acknowledged, or its id (by then
perhaps reused by the broker for a newer message) would acknowledge a message not yet stored.
It is stored all the same (storage takes each verdict id once) and its fresh copy is acknowledged
when that copy's batch commits. For the same reason a packet id twice in one batch is acknowledged
once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    replayed: bool  # the box marked it as having waited for the broker
    connection: int = 0  # the MQTT connection it came on (set by `received`)


@dataclass(frozen=True)
class Stored:
    """A verdict the batch stored (or found stored already): what a receipt names."""

    site: str
    device: str
    epoch: str
    seq: int


@dataclass(frozen=True)
class Outcome:
    """What the shell does once a batch is committed."""

    acks: list[tuple[int, int]]  # (packet id, qos) to acknowledge, in arrival order
    receipts: dict[tuple[str, str, str], list[int]]  # (site, device, epoch) -> the seqs stored
    not_acked: int = 0  # copies from an earlier connection: the broker sends them again


@dataclass
class Intake:
    batch_max: int = 500
    batch_wait_s: float = 0.05
    connection: int = 0
    _waiting: list[Message] = field(default_factory=list)
    _first_at: float | None = None  # when the oldest waiting message arrived
    _in_batch: int = 0  # messages taken and not yet committed or abandoned

    def connected(self) -> None:
        """A new MQTT connection: what arrives from now on belongs to it."""
        self.connection += 1

    def received(self, message: Message, *, now: float) -> None:
        if not self._waiting:
            self._first_at = now
        self._waiting.append(Message(message.mid, message.qos, message.topic, message.payload, message.replayed,
                                     self.connection))

    def due_in(self, now: float) -> float | None:
        """Seconds until `take` would cut a batch (0: now), or None when nothing waits."""
        if not self._waiting or self._first_at is None:
            return None
        if len(self._waiting) >= self.batch_max:
            return 0.0
        return max(0.0, self._first_at + self.batch_wait_s - now)

    def take(self, now: float) -> list[Message]:
        """The next batch if one is due, else []."""
        if self.due_in(now) != 0.0:
            return []
        batch, self._waiting = self._waiting[: self.batch_max], self._waiting[self.batch_max :]
        self._first_at = now if self._waiting else None
        self._in_batch += len(batch)
        return batch

    def committed(self, batch: list[Message], stored: list[Stored]) -> Outcome:
        self._in_batch -= len(batch)
        acks: dict[int, int] = {}
        old = 0
        for m in batch:
            if m.qos == 0:
                continue
            if m.connection != self.connection:
                old += 1
            else:
                acks.setdefault(m.mid, m.qos)
        receipts: dict[tuple[str, str, str], list[int]] = {}
        for s in stored:
            receipts.setdefault((s.site, s.device, s.epoch), []).append(s.seq)
        return Outcome(list(acks.items()), receipts, old)

    def abandoned(self, batch: list[Message]) -> None:
        """The shell stops without storing `batch`: nothing is acknowledged, the broker sends it again."""
        self._in_batch -= len(batch)

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed: held un-acknowledged at the broker."""
        return len(self._waiting) + self._in_batch
