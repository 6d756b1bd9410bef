"""Fuzz the modbus thermometer codec (drivers/thermo/codecs/modbus.py); the checks are in fuzz/_thermo.py."""

from __future__ import annotations

from fuzz._harness import main
from fuzz._thermo import seeds_for, target

NAME = "fuzz_thermo_modbus"
one_input = target("modbus")


def seeds() -> list[bytes]:
    return seeds_for("modbus")


if __name__ == "__main__":
    main(NAME, one_input, seeds)
