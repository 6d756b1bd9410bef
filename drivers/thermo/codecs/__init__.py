"""The thermometer protocol families, by the name a deployer writes in the configuration.

Adding a family: write `codecs/<family>.py` (an options model, a `Codec` subclass and the device-side
`encode_reading` its simulator needs), add one `Family` line below, one options field to
`ThermoConfig` and one device model to the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from common.settings import ConfigError
from drivers.base import FrameError
from drivers.thermo.codecs.aa_a5 import AaA5Codec, AaA5Options
from drivers.thermo.codecs.ascii_line import AsciiLineCodec, AsciiOptions
from drivers.thermo.codecs.base import Codec, CodecEvent
from drivers.thermo.codecs.gy_mcu import GyMcuCodec, GyMcuOptions
from drivers.thermo.codecs.modbus import ModbusCodec, ModbusOptions


@dataclass(frozen=True)
class Family:
    name: str  # what the configuration says, e.g. "gy-mcu"
    options_key: str  # the field of ThermoConfig holding this family's options
    options: type[BaseModel]
    codec: Callable[[Any], Codec]  # options -> a fresh codec
    default_baud: int

    def make(self, options: BaseModel | None = None) -> Codec:
        return self.codec(options if options is not None else self.options())


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("gy-mcu", "gy_mcu", GyMcuOptions, GyMcuCodec, 9600),
        Family("aa-a5", "aa_a5", AaA5Options, AaA5Codec, 38400),
        Family("modbus", "modbus", ModbusOptions, ModbusCodec, 9600),
        Family("ascii", "ascii", AsciiOptions, AsciiLineCodec, 9600),
    )
}


def family(name: str) -> Family:
    """The family called `name`; ConfigError naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown thermometer protocol {name!r}; known: {', '.join(FAMILIES)}") from None


__all__ = ["FAMILIES", "Codec", "CodecEvent", "ConfigError", "Family", "FrameError", "family"]
