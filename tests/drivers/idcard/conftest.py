"""A simulated reader on a real pseudo-terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.idcard.simulator import IdCardSimulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[IdCardSimulator]:
    with IdCardSimulator(tmp_path / "idcard", chunk_delay_s=0.005) as simulator:
        yield simulator
