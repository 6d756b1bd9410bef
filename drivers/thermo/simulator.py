"""A simulated serial thermometer of any family, on a pseudo-terminal, for tests and the demo.

    with ThermoSimulator("gy-mcu", tmp_path / "thermo") as sim:
        thermometer = Thermometer(ThermoConfig(protocol="gy-mcu", port=str(sim.link)))
        sim.subject(37.9)            # someone with a 37.9 °C core steps up
        sim.corrupt_next(2); sim.inject_garbage(); sim.silent = True; sim.unplug(); sim.plug()

It answers the host's requests and, once asked (or from power-on, for line-printing modules), streams
a reading every `stream_interval_s`. The values come from a `Scene` (`nobody()` / `subject(body_c)`,
with noise, drift, ambient and the forehead reading below core). Faults: `inject_garbage`,
`corrupt_next` (wrong checksums), `silent` (stops answering and streaming), `unplug`/`plug` (the port
vanishes; the board loses power and forgets streaming).
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

from pydantic import BaseModel

from drivers.sim.pty import PtyPort
from drivers.thermo.codecs import family
from drivers.thermo.sim_devices import MODELS, Action
from drivers.thermo.sim_scene import Scene


class ThermoSimulator:
    """One simulated thermometer behind `link`. Nothing starts before the context is entered."""

    def __init__(self, protocol: str, link: Path, *, options: BaseModel | None = None, seed: int = 0,
                 stream_interval_s: float = 0.1, line_format: str = "T:{object:.2f} A:{ambient:.2f}\r\n",
                 scene: Scene | None = None) -> None:
        fam = family(protocol)
        self.protocol = protocol
        self.options = options if options is not None else fam.options()
        self.model = MODELS[protocol](self.options, line_format)
        self.scene = scene if scene is not None else Scene(seed=seed)
        self.stream_interval_s = stream_interval_s
        self.port = PtyPort(link, self._on_data)
        self.silent = False
        self.frames_sent = 0
        self._rng = random.Random(seed + 1)
        self._lock = threading.Lock()
        self._pending = b""
        self._streaming = self.model.streams_at_power_on
        self._corrupt = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def link(self) -> Path:
        return self.port.link

    def __enter__(self) -> ThermoSimulator:
        self.port.open()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._stream_loop, name=f"thermo-sim:{self.link.name}",
                                        daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        self.port.close()

    # the scene
    def nobody(self) -> None:
        self.scene.nobody()

    def subject(self, body_c: float) -> None:
        self.scene.subject(body_c)

    # faults
    def inject_garbage(self, data: bytes | None = None) -> None:
        """Write line noise now (random bytes unless given)."""
        self.port.write(data if data is not None else self._rng.randbytes(self._rng.randint(3, 24)))

    def corrupt_next(self, count: int = 1) -> None:
        """Break the checksum of the next `count` reading frames."""
        with self._lock:
            self._corrupt += count

    def unplug(self) -> None:
        self.port.unplug()
        with self._lock:
            self._pending, self._streaming = b"", self.model.streams_at_power_on

    def plug(self) -> None:
        self.port.plug()

    # the device
    def _on_data(self, data: bytes) -> None:
        with self._lock:
            actions, self._pending = self.model.take(self._pending + data)
        for action in actions:
            self._act(action)

    def _act(self, action: Action) -> None:
        if self.silent:
            return
        if action == "stream":
            self._streaming = True
        elif action == "reading":
            self._send_reading()
        else:
            self.port.write(action)

    def _stream_loop(self) -> None:
        while not self._stop.wait(self.stream_interval_s):
            if self._streaming and not self.silent and self.port.plugged:
                self._send_reading()

    def _send_reading(self) -> None:
        frame = self.model.frame(*self.scene.sample())
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                frame = self.model.corrupt(frame)
        self.port.write(frame)
        self.frames_sent += 1
