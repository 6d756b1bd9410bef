"""The thermometer as a `Device`: a thin pyserial transport around a codec and the measurer.

Theory of operation: `run` opens the port and keeps a session going until `stop`: it sends the
codec's start request, then either polls (one request every `poll_interval_s`) or just reads what a
streaming device sends, feeds the bytes to the codec and each reading to the measurer, and emits the
results. Reads block until bytes arrive or the next poll is due, so an idle station costs a few wake-ups a
second.
A port that fails or vanishes (a pulled USB cable) ends the session: the transport reports
DISCONNECTED and reopens with `Backoff`. A device that stays silent for `silence_timeout_s` is reported
DISCONNECTED too, and is sent its start request again (a rebooted board forgets "stream"). Bad frames
make the health DEGRADED; a clean reading after `degraded_hold_s` without errors makes it OK again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import serial
from pydantic import Field, model_validator

from drivers.base import Backoff, Device, DeviceHealth, DeviceKind, Emit, HealthState
from drivers.thermo.codecs import FrameError, family
from drivers.thermo.codecs.aa_a5 import AaA5Options
from drivers.thermo.codecs.ascii_line import AsciiOptions
from drivers.thermo.codecs.gy_mcu import GyMcuOptions
from drivers.thermo.codecs.modbus import ModbusOptions
from drivers.thermo.measure import Measurer, MeasureSettings

log = logging.getLogger(__name__)

MAX_READ_WAIT_S = 0.5  # how long `run` may take to notice `stop`


class ThermoConfig(MeasureSettings):
    """The `thermo:` section of a box's configuration."""

    protocol: str = "gy-mcu"  # a name in drivers.thermo.codecs.FAMILIES
    port: str = "/dev/thermo"  # give the udev rule's stable name, not /dev/ttyUSB0
    baud: int | None = Field(default=None, gt=0)  # None: the family's usual speed
    name: str = ""  # for health events; default the port
    poll_interval_s: float = Field(default=0.25, gt=0.0)  # for devices that answer requests
    silence_timeout_s: float = Field(default=3.0, gt=0.0)
    degraded_hold_s: float = Field(default=2.0, ge=0.0)
    emit_raw: bool = False  # also emit every RawReading (the watch tool does)
    gy_mcu: GyMcuOptions = GyMcuOptions()
    aa_a5: AaA5Options = AaA5Options()
    modbus: ModbusOptions = ModbusOptions()
    ascii: AsciiOptions = AsciiOptions()

    @model_validator(mode="after")
    def _known_protocol(self) -> ThermoConfig:
        family(self.protocol)
        return self

    @property
    def effective_baud(self) -> int:
        return self.baud or family(self.protocol).default_baud

    @property
    def device_name(self) -> str:
        return self.name or self.port


class _Health:
    """Emits a DeviceHealth only when the state changes."""

    def __init__(self, emit: Emit, name: str, hold_s: float) -> None:
        self._emit, self._name, self._hold_s = emit, name, hold_s
        self._state: HealthState | None = None
        self._last_error = float("-inf")

    def set(self, state: HealthState, detail: str = "") -> None:
        if state is HealthState.DEGRADED:
            self._last_error = time.monotonic()
        if state is not self._state:
            self._state = state
            log.info("thermo health", extra={"device": self._name, "state": state.value, "detail": detail})
            self._emit(DeviceHealth(kind=DeviceKind.THERMO, name=self._name, state=state, detail=detail))

    def reading(self) -> None:
        if self._state is not HealthState.DEGRADED or time.monotonic() - self._last_error >= self._hold_s:
            self.set(HealthState.OK)


class Thermometer(Device):
    """A serial thermometer of any registered family. The constructor only checks the config."""

    def __init__(self, config: ThermoConfig) -> None:
        self.config = config
        self._family = family(config.protocol)
        self._options = getattr(config, self._family.options_key)
        polled = self._family.make(self._options).poll_request() is not None
        # a read returns as soon as bytes arrive; the timeout only paces polls and checks for `stop`
        self.read_timeout_s = min(config.poll_interval_s, MAX_READ_WAIT_S) if polled else MAX_READ_WAIT_S

    def run(self, emit: Emit, stop: threading.Event) -> None:
        cfg = self.config
        backoff = Backoff()
        health = _Health(emit, cfg.device_name, cfg.degraded_hold_s)
        measurer = Measurer(cfg)
        while not stop.is_set():
            try:
                with serial.Serial(cfg.port, cfg.effective_baud, timeout=self.read_timeout_s,
                                   write_timeout=1.0, exclusive=True) as port:  # one reader per port
                    self._session(port, emit, stop, health, measurer, backoff)
            except (serial.SerialException, OSError) as exc:
                health.set(HealthState.DISCONNECTED, str(exc))
            measurer.reset()
            stop.wait(backoff.next_delay())

    def _session(self, port: serial.Serial, emit: Emit, stop: threading.Event, health: _Health,
                 measurer: Measurer, backoff: Backoff) -> None:
        cfg = self.config
        codec = self._family.make(self._options)
        start, poll = codec.start_request(), codec.poll_request()
        if start:
            port.write(start)
        next_poll = last_heard = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if poll is not None and now >= next_poll:
                port.write(poll)
                next_poll = now + cfg.poll_interval_s
            if now - last_heard > cfg.silence_timeout_s:
                health.set(HealthState.DISCONNECTED, f"no reading for {cfg.silence_timeout_s:g} s")
                measurer.reset()
                if start:
                    port.write(start)
                last_heard = now
            data = port.read(port.in_waiting or 1)
            if not data:
                continue
            for event in codec.feed(data, datetime.now(UTC)):
                if isinstance(event, FrameError):
                    log.debug("thermo bad frame", extra={"device": cfg.device_name, "reason": event.reason,
                                                         "raw": event.raw.hex()})
                    health.set(HealthState.DEGRADED, event.reason)
                    continue
                last_heard = time.monotonic()
                backoff.reset()
                health.reading()
                if cfg.emit_raw:
                    emit(event)
                if (measured := measurer.add(event)) is not None:
                    emit(measured)
