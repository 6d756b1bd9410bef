"""What a simulated thermometer looks at: an empty scene, or a subject with a body temperature.

The numbers follow what thermopiles at a kiosk show: the empty scene reads a little above the air
(walls, the box itself), a forehead reads `forehead_gap_c` below the core temperature, every sample
carries sensor noise, and both the subject's reading and the air drift slowly (a bounded random
walk). The sensor's ambient channel is its own die, a little warmer than the air. Deterministic for
a given seed; safe to change from one thread while another samples.
"""

from __future__ import annotations

import random
import threading


class Scene:
    def __init__(self, *, seed: int = 0, air_c: float = 24.0, forehead_gap_c: float = 0.9,
                 noise_c: float = 0.06, drift_c: float = 0.15) -> None:
        self.air_c, self.forehead_gap_c = air_c, forehead_gap_c
        self.noise_c, self.drift_c = noise_c, drift_c
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._body_c: float | None = None
        self._subject_drift = 0.0
        self._air_drift = 0.0

    def nobody(self) -> None:
        with self._lock:
            self._body_c = None

    def subject(self, body_c: float) -> None:
        """A subject steps up; their forehead reads below `body_c` by the forehead gap."""
        with self._lock:
            self._body_c = body_c
            self._subject_drift = 0.0

    def sample(self) -> tuple[float, float]:
        """One (object, ambient) reading in °C."""
        with self._lock:
            self._air_drift = self._walk(self._air_drift, 0.01, self.drift_c)
            air = self.air_c + self._air_drift
            if self._body_c is None:
                target = air + 0.5
            else:
                self._subject_drift = self._walk(self._subject_drift, 0.02, self.drift_c)
                target = self._body_c - self.forehead_gap_c + self._subject_drift
            return round(target + self._rng.gauss(0.0, self.noise_c), 2), round(air + 1.0, 2)

    def _walk(self, value: float, step: float, bound: float) -> float:
        return max(-bound, min(bound, value + self._rng.gauss(0.0, step)))
