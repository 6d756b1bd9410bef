"""One report per presentation of a code, however many frames it is seen in.

A payload seen for the first time (or again after it was out of sight for `window_s`) is reported;
each sighting extends its presentation. So a phone held still for a minute gives one report, and
the same phone shown again after the window gives a new one. Pure: the caller passes the time.
"""

from __future__ import annotations


class Debouncer:
    def __init__(self, window_s: float = 4.0) -> None:
        if window_s < 0:
            raise ValueError("the debounce window cannot be negative")
        self.window_s = window_s
        self._last_seen: dict[str, float] = {}

    def admit(self, text: str, now: float) -> bool:
        """Record a sighting of `text` at `now` (monotonic seconds); True if it is to be reported."""
        self._forget_older_than_window(now)
        fresh = text not in self._last_seen
        self._last_seen[text] = now
        return fresh

    def _forget_older_than_window(self, now: float) -> None:
        for text in [t for t, seen in self._last_seen.items() if now - seen > self.window_s]:
            del self._last_seen[text]
