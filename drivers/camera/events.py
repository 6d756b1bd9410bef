"""What the camera reports: a code scanned, once per presentation. Device health is drivers.events."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contract.messages import CodeColour

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
