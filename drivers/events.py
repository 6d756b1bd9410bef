"""What every driver may report besides its own readings: the health of its device, and bytes its
decoder had to throw away.

Device-specific events (a card presented, a temperature measured, a code scanned) live with their
driver; this module holds only what all drivers share, so the agent and the tools treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class DeviceKind(StrEnum):
    IDCARD = "idcard"
    THERMO = "thermo"
    CAMERA = "camera"


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # answering, but with errors (bad frames, failed reads)
    DISCONNECTED = "disconnected"  # port gone or device silent; the transport is retrying


class DeviceHealth(BaseModel):
    """A change in a device's health, reported by its transport."""

    model_config = ConfigDict(frozen=True)

    kind: DeviceKind
    name: str  # the configured device name, e.g. the port path or "camera0"
    state: HealthState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes a decoder threw away (line noise, a bad checksum, a truncated frame): every codec returns
    these among its events and never raises them, so one bad frame never stops a device's loop; the
    transport counts them and reports the device degraded. Each codec's subclasses say why."""

    @property
    def reason(self) -> str:
        raise NotImplementedError

    @property
    def raw(self) -> bytes:
        """The bytes thrown away, where the codec kept them."""
        return b""
