"""The files deploy/ installs on a machine: systemd units (checked by systemd-analyze), udev rules,
and the shell scripts (parsed by bash)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from common import device_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def test_systemd_analyze_verify_passes_on_the_units(tmp_path: Path) -> None:
    analyzer = shutil.which("systemd-analyze")
    if analyzer is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd")
    # A root of our own: the units installed where install.sh puts them, the program they start
    # present, and the system's own units (targets the units refer to) beside them.
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    for where in ("venv", "current"):  # central's environment; a box's current release
        program = root / f"opt/checkpoint/{where}/bin/checkpoint"
        program.parent.mkdir(parents=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    done = subprocess.run([analyzer, "verify", f"--root={root}", *(u.name for u in UNITS)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stderr + done.stdout


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_restart_on_failure_and_are_watched(unit: Path) -> None:
    text = unit.read_text()
    for line in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert line in text.splitlines(), line
    assert re.search(r"^WatchdogSec=\d+$", text, re.M)
    assert re.search(r"^ExecStart=/opt/checkpoint/(current|venv)/bin/checkpoint ", text, re.M)


RULE_KEYS = {"ACTION", "SUBSYSTEM", "ATTRS{idVendor}", "ATTRS{idProduct}", "ATTRS{bInterfaceClass}",
             "ATTR{index}", "SYMLINK", "GROUP", "MODE", "GOTO", "LABEL", "KERNELS", "ATTRS{serial}"}


def test_udev_rules_parse_and_name_the_three_devices() -> None:
    symlinks = set()
    for line in (DEPLOY / "udev" / "99-checkpoint.rules").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for pair in re.split(r",\s*", line):
            match = re.fullmatch(r'([A-Z]+(?:\{[A-Za-z_]+\})?)(==|!=|\+=|=)"([^"]*)"', pair.strip())
            assert match, f"not a key-operator-value pair: {pair!r} in {line!r}"
            key, op, value = match.groups()
            assert key in RULE_KEYS, key
            if key == "SYMLINK":
                assert op == "+="
                symlinks.add(value)
    assert {f"/dev/{name}" for name in symlinks} == {device_names.IDCARD, device_names.THERMO, device_names.CAMERA}


@pytest.mark.parametrize("script", sorted(DEPLOY.glob("pi/*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
