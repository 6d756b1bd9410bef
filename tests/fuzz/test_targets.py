"""Every atheris target in fuzz/ runs its seeds and a few hundred mutated inputs in plain Python, so the
targets keep working between the long runs (fuzz/README.md)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fuzz._harness import smoke

TARGETS = ["fuzz_idcard_frames", "fuzz_idcard_text", "fuzz_thermo_gy_mcu", "fuzz_thermo_aa_a5", "fuzz_thermo_modbus",
           "fuzz_thermo_ascii_line", "fuzz_thermo_registry", "fuzz_healthcode", "fuzz_contract_models",
           "fuzz_central_check"]
# targets whose known findings (tests/fuzz/test_known_bugs.py) mutated inputs can reach
KNOWN = {"fuzz_healthcode": (ValueError, OverflowError), "fuzz_central_check": (RecursionError, ValueError,
                                                                                 OverflowError)}


@pytest.mark.parametrize("name", TARGETS)
def test_a_target_survives_its_seeds_and_mutations(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(f"fuzz.{name}")
    monkeypatch.setattr("fuzz._harness.HERE", tmp_path)  # a finding is saved here, not in the tree
    if name in KNOWN:
        try:
            smoke(name, module.one_input, module.seeds(), runs=300)
        except KNOWN[name]:
            pytest.xfail("a known finding (test_known_bugs.py)")
    else:
        smoke(name, module.one_input, module.seeds(), runs=300)

