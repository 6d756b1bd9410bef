"""Serial body-temperature modules: several real protocol families behind one interface.

`device.Thermometer(device.ThermoConfig(...))` is the `drivers.base.Device`; it emits
`events.TemperatureMeasured` (one per subject presentation), `DeviceHealth` and, when asked, every
`events.RawReading`. The codecs are in `codecs` (registry `FAMILIES`), the measurement layer in
`measure`, the simulator in `simulator`, the field tool in `cli`. Kept empty so that importing a
codec loads no serial library.
"""
