"""The daily-figures chart as plain SVG geometry (no script, no chart library, prints as it shows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

HEIGHT = 180.0
BAR = 28.0
GAP = 12.0
STACK = ("passed", "review", "deny")


def daily_bars(rows: Sequence[Mapping[str, Any]], first: date, last: date) -> dict[str, Any]:
    """One stacked bar per day (passed, review, deny), summed over the checkpoints in `rows`."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    sums = {d: dict.fromkeys(STACK, 0) for d in days}
    for r in rows:
        if r["day"] in sums:
            for part in STACK:
                sums[r["day"]][part] += r[part]
    top = max([sum(s.values()) for s in sums.values()] + [1])
    bars = []
    for n, d in enumerate(days):
        y = HEIGHT
        parts = []
        for part in STACK:
            h = HEIGHT * sums[d][part] / top
            y -= h
            parts.append({"part": part, "y": round(y, 1), "h": round(h, 1), "n": sums[d][part]})
        bars.append({"day": d, "x": n * (BAR + GAP), "parts": parts, "total": sum(sums[d].values())})
    return {"bars": bars, "width": len(days) * (BAR + GAP), "height": HEIGHT, "bar": BAR, "top": top}
