"""The health-code camera: capture, decode, colour, debounce -> `CodeScanned` events.

Modules: capture (CameraConfig, sources, the newest-frame grabber), decode (the fallback decoder),
colour (the code's screen colour), debounce, events (CodeScanned), device (Camera, a
drivers.base.Device), scene (PhoneScene, the simulated phone for `sim:`), render (drawing shared by
the scene and the benchmark corpus), cli (`checkpoint qr`). What a payload means is decided in
agent/healthcode, not here.
"""
