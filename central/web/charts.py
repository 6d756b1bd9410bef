"""The dashboard's charts as plain SVG geometry (no script, no chart library, prints as it shows):
the daily figures' bars, and the small line charts of a box's metrics history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from central.sql import aware

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


LINE_WIDTH = 300.0
LINE_HEIGHT = 60.0
LINE_POINTS = 150  # at most this many points per line, however long the history
HISTORY = (  # (column, lowest value the axis shows: None to start at the smallest value seen)
    ("outbox_depth", 0.0),
    ("cpu_percent", 0.0),
    ("cpu_temp_c", None),
    ("disk_free_mb", None),
)


def history_lines(rows: Sequence[Mapping[str, Any]], first: datetime, last: datetime) -> dict[str, dict[str, Any]]:
    """One small line chart per metric of a box, `first` to `last` across. Each slice of time shows its
    largest value, so a spike in a long history stays visible. An empty `points` where nothing was sent."""
    return {name: _line(rows, name, floor, first, last) for name, floor in HISTORY}


def _line(rows: Sequence[Mapping[str, Any]], name: str, floor: float | None,
          first: datetime, last: datetime) -> dict[str, Any]:
    span = max((last - first).total_seconds(), 1.0)
    slices: dict[int, float] = {}
    for r in rows:
        if r[name] is None:
            continue
        n = min(int((aware(r["received_at"]) - first).total_seconds() / span * LINE_POINTS), LINE_POINTS - 1)
        slices[n] = max(slices.get(n, r[name]), r[name])
    values = list(slices.values())
    low = min([*values, floor] if floor is not None else values) if values else 0.0
    high = max(values) if values else 0.0
    rise = (high - low) or 1.0
    xy = [(round(LINE_WIDTH * (n + 0.5) / LINE_POINTS, 1), round(LINE_HEIGHT * (1 - (v - low) / rise), 1))
          for n, v in sorted(slices.items())]
    newest = next((r[name] for r in reversed(rows) if r[name] is not None), None)
    return {"points": " ".join(f"{x},{y}" for x, y in xy), "end": xy[-1] if xy else None, "low": low, "high": high,
            "newest": newest, "width": LINE_WIDTH, "height": LINE_HEIGHT}
