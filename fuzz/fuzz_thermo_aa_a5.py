"""Fuzz the aa-a5 thermometer codec (drivers/thermo/codecs/aa_a5.py); the checks are in fuzz/_thermo.py."""

from __future__ import annotations

from fuzz._harness import main
from fuzz._thermo import seeds_for, target

NAME = "fuzz_thermo_aa_a5"
one_input = target("aa-a5")


def seeds() -> list[bytes]:
    return seeds_for("aa-a5")


if __name__ == "__main__":
    main(NAME, one_input, seeds)
