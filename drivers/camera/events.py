"""What the camera reports: a code scanned, once per presentation. Device health is drivers.base.

One report per presentation of a code, however many frames it is seen in (`Debouncer`): a payload
seen for the first time (or again after it was out of sight for `window_s`) is reported; each
sighting extends its presentation. So a phone held still for a minute gives one report, and
the same phone shown again after the window gives a new one. Pure: the caller passes the time.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contract.messages import CodeColour


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


Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
"""Top-left, top-right, bottom-right, bottom-left of a code as it is oriented, in frame pixels."""


class CodeScanned(BaseModel):
    """A QR code held up to the camera: its payload text and the colour it was drawn in.

    `colour` is read from the screen (the weakest evidence: agent/healthcode decides what the
    payload is worth). Reported once per presentation: the same text is not reported again until it
    has been out of sight for the debounce time.
    """

    model_config = ConfigDict(frozen=True)

    camera: str  # the configured camera name
    text: str
    colour: CodeColour
    colour_confidence: float = Field(ge=0, le=1)
    decoder: str  # the decoding step that read it, e.g. "zxing" or "zxing-min"
    ms: float  # time spent decoding the frame it was read from
    corners: Corners  # where the code was in the frame, pixels
    frame_width: int
    frame_height: int
    at: datetime  # when the frame was captured (box clock, UTC)
