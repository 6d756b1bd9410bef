"""Fuzz the ascii thermometer codec (drivers/thermo/codecs/ascii_line.py); the checks are in fuzz/_thermo.py."""

from __future__ import annotations

from fuzz._harness import main
from fuzz._thermo import seeds_for, target

NAME = "fuzz_thermo_ascii_line"
one_input = target("ascii")


def seeds() -> list[bytes]:
    return seeds_for("ascii")


if __name__ == "__main__":
    main(NAME, one_input, seeds)
