"""What every driver shares: the one small interface every device backend implements, and what every
driver may report besides its own readings (its device's health, bytes its decoder threw away).

A device runs in a thread of its own (serial and camera I/O block), reports what it sees through
`emit`, and returns when `stop` is set. Device faults are reported as `DeviceHealth` events and
retried with backoff; `run` raises only for programming errors. Real hardware and simulators sit
behind the same interface, chosen by configuration. Device-specific events (a card presented, a
temperature measured, a code scanned) live with their driver; this module holds only what all
drivers share, so the agent and the tools treat them alike.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from common.backoff import Backoff


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


__all__ = ["Backoff", "Device", "Emit"]

Emit = Callable[[BaseModel], None]


class Device(ABC):
    """A reader, thermometer or camera. The constructor does no I/O; work starts in `run`."""

    @abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read the device until `stop` is set, passing every event to `emit` (thread-safe)."""
