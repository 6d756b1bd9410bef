"""The picture and payload logic stays pure: no device, socket, thread or clock of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PURE = [
    ROOT / "drivers/camera/colour.py",
    ROOT / "drivers/camera/debounce.py",
    ROOT / "drivers/camera/render.py",
    ROOT / "drivers/camera/events.py",
    ROOT / "agent/healthcode/signed_format.py",
    ROOT / "agent/healthcode/keys.py",
]
FORBIDDEN = {"serial", "socket", "asyncio", "threading", "paho", "sqlite3", "time", "select", "os", "httpx"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_imports_nothing_that_does_io(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
