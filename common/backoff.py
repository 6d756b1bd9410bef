"""Retry delays shared by every reconnecting part (serial ports, camera, database)."""

from __future__ import annotations


class Backoff:
    """Reconnection delays: doubling from `first` up to `cap`, reset after a success."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
