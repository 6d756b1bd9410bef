"""Shared helpers for the codec tables: feed hex, summarise what came out."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.thermo.codecs import Codec, FrameError

AT = datetime(2022, 3, 1, 8, 30, tzinfo=UTC)


def decode(codec: Codec, hex_text: str) -> list[tuple]:
    """Feed `hex_text` at once; each event as ("reading", object, ambient) or ("error", reason)."""
    return summarise(codec.feed(bytes.fromhex(hex_text), AT))


def summarise(events: list) -> list[tuple]:
    return [("error", e.reason) if isinstance(e, FrameError) else ("reading", e.object_c, e.ambient_c)
            for e in events]
