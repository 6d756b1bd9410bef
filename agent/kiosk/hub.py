"""Hands the station's newest kiosk state to the page's event streams.

The station thread calls `publish`; each server-sent-event stream awaits `next_after(version)`
on the web server's event loop. Only the newest state matters, so nothing queues up.
"""

from __future__ import annotations

import asyncio

from agent.kiosk.state import KioskState


class StateHub:
    def __init__(self) -> None:
        self.state: KioskState | None = None  # until the station publishes its first
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once the web server's loop runs."""
        self._loop = loop
        self._changed = asyncio.Event()

    def publish(self, state: KioskState) -> None:
        """Thread-safe."""
        self.state = state
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def next_after(self, version: int, timeout: float) -> KioskState | None:
        """The state once its version passes `version`, or None after `timeout` (for a heartbeat)."""
        while self.state is None or self.state.version <= version:
            changed = self._changed
            if changed is None:
                return None
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except TimeoutError:
                return None
        return self.state
