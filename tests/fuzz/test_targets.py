"""Every atheris target in fuzz/ runs its seeds and a few hundred mutated inputs in plain Python, so the
targets keep working between the long runs (fuzz/README.md).

Any finding fails the run, a fixed one coming back included. A target whose open finding (in
tests/fuzz/test_known_bugs.py) its mutated inputs reach goes in OPEN with the exception it raises:
a strict xfail, so the run fails too the day the finding is fixed, until the target comes off OPEN.
The inputs are the same every run (a fixed seed), so the outcome is too.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fuzz._harness import smoke

TARGETS = ["fuzz_idcard_frames", "fuzz_idcard_text", "fuzz_thermo_gy_mcu", "fuzz_thermo_aa_a5", "fuzz_thermo_modbus",
           "fuzz_thermo_ascii_line", "fuzz_thermo_registry", "fuzz_healthcode", "fuzz_contract_models",
           "fuzz_central_check"]
OPEN: dict[str, tuple[type[BaseException], ...]] = {}  # none today: every finding so far is fixed


def _marked(name: str) -> object:
    if name not in OPEN:
        return name
    mark = pytest.mark.xfail(strict=True, raises=OPEN[name], reason="an open finding (test_known_bugs.py)")
    return pytest.param(name, marks=mark)


@pytest.mark.parametrize("name", [_marked(name) for name in TARGETS])
def test_a_target_survives_its_seeds_and_mutations(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(f"fuzz.{name}")
    monkeypatch.setattr("fuzz._harness.HERE", tmp_path)  # a finding is saved here, not in the tree
    smoke(name, module.one_input, module.seeds(), runs=300)
