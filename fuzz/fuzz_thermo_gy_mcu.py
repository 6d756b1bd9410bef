"""Fuzz the gy-mcu thermometer codec (drivers/thermo/codecs/gy_mcu.py); the checks are in fuzz/_thermo.py."""

from __future__ import annotations

from fuzz._harness import main
from fuzz._thermo import seeds_for, target

NAME = "fuzz_thermo_gy_mcu"
one_input = target("gy-mcu")


def seeds() -> list[bytes]:
    return seeds_for("gy-mcu")


if __name__ == "__main__":
    main(NAME, one_input, seeds)
