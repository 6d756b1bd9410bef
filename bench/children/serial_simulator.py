"""A device simulator on a pseudo-terminal, in a process of its own so that its CPU is not the
driver's (the idle-CPU figures of the ID-card and thermometer benchmarks).

    python -m bench.children.serial_simulator idcard LINK
    python -m bench.children.serial_simulator thermo PROTOCOL LINK
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench.children import ready
from drivers.idcard.simulator import IdCardSimulator
from drivers.thermo.simulator import ThermoSimulator


def simulator(args: list[str]) -> AbstractContextManager[Any]:
    match args:
        case ["idcard", link]:
            return IdCardSimulator(Path(link))
        case ["thermo", protocol, link]:
            return ThermoSimulator(protocol, Path(link))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    with simulator(sys.argv[1:]):
        ready()
        sys.stdin.read()
