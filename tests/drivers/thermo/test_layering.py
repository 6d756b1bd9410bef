"""The codecs and the measurement layer stay pure: no port, socket, thread or event loop of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import drivers.thermo

PACKAGE = Path(drivers.thermo.__file__).parent
PURE = sorted([*PACKAGE.glob("codecs/*.py"), PACKAGE / "measure.py", PACKAGE / "events.py"])
FORBIDDEN = {"serial", "socket", "asyncio", "threading", "paho", "sqlite3", "time", "select", "os"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_nothing_that_does_io(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
