"""What the thermometer driver tells the agent: raw readings and measurement results.

`RawReading` is one decoded frame, exactly as the device gave it. `TemperatureMeasured` is the
measurement layer's result for one subject presentation: a body temperature when the burst was
plausible, or an honest *invalid* (with the raw values kept) that asks for a re-measure. Neither says
anything about fever: that is policy, and lives in the agent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class RawReading(BaseModel):
    """One decoded frame. `received_at` is the box's clock when the frame's last byte arrived."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="hex", val_json_bytes="hex")

    object_c: float  # what the sensor saw (forehead, wrist, black body or empty scene), in °C
    ambient_c: float | None  # the sensor's own die temperature, where the device reports one
    raw: bytes  # the whole frame as received (JSON: hex)
    protocol: str  # registry name, e.g. "gy-mcu"
    received_at: datetime


class TemperatureMeasured(BaseModel):
    """One measurement per subject presentation; `body_c` is None unless status is 'measured'."""

    model_config = ConfigDict(frozen=True)

    status: Literal["measured", "invalid"]
    body_c: float | None  # object_c + offset_c, only when inside the plausible range
    object_c: float  # the burst reduced to one value (upper median), before the offset
    offset_c: float  # the per-device offset (forehead -> body) applied, recorded for audit
    ambient_c: float | None
    background_c: float | None  # the empty-scene temperature the presence was judged against
    protocol: str
    samples: int  # how many readings the burst held
    plausible_min_c: float
    plausible_max_c: float
    reason: str = ""  # why a result is invalid: "below plausible range", "subject left early", ...
    measured_at: datetime  # received_at of the burst's last reading
