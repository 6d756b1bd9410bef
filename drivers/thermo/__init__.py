"""Serial body-temperature modules: several real protocol families behind one interface.

`Thermometer(ThermoConfig(...))` is the `drivers.base.Device`; it emits `TemperatureMeasured` (one per
subject presentation), `DeviceHealth` and, when asked, every `RawReading`. The codecs are in
`drivers.thermo.codecs` (registry `FAMILIES`), the measurement layer in `measure`, the simulator in
`simulator`, the field tool in `cli`.
"""

from drivers.thermo.device import Thermometer, ThermoConfig
from drivers.thermo.events import RawReading, TemperatureMeasured
from drivers.thermo.measure import MeasureSettings, Measurer

__all__ = ["MeasureSettings", "Measurer", "RawReading", "TemperatureMeasured", "ThermoConfig", "Thermometer"]
