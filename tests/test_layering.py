"""The layers stay as designed, checked on the source (no import side effects).

- Codecs and other pure logic import nothing that does I/O (no port, socket, thread, clock, database).
- The contract imports none of the parts; drivers know nothing of the agent or central; central knows
  nothing of the agent or the drivers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IO = {"serial", "socket", "asyncio", "threading", "paho", "sqlite3", "time", "select", "os", "httpx", "subprocess"}
PURE = sorted(
    [
        *(ROOT / "drivers/idcard" / name for name in ("codec.py", "cards.py", "codes.py", "replies.py", "numbers.py")),
        *(ROOT / "drivers/thermo/codecs").glob("*.py"),
        ROOT / "drivers/thermo/measure.py",
        ROOT / "drivers/thermo/events.py",
        *(ROOT / "drivers/camera" / name for name in ("colour.py", "debounce.py", "render.py", "events.py")),
        *(ROOT / "agent/healthcode" / name for name in ("signed_format.py", "keys.py", "status.py")),
        *(ROOT / "agent" / name for name in ("policy.py", "passage.py", "facts.py", "verdicts.py")),
        *(ROOT / "contract" / name for name in ("messages.py", "topics.py", "signing.py", "idnumber.py", "labels.py")),
    ]
)
FORBIDDEN_PARTS = {
    "contract": {"agent", "central", "drivers", "checkpoint"},
    "drivers": {"agent", "central"},
    "central": {"agent", "drivers"},
    "agent": {"central"},
}


def imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a module, wherever it stands (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_do_no_io(path: Path) -> None:
    assert path.exists()
    assert not imports(path) & IO


@pytest.mark.parametrize("part", sorted(FORBIDDEN_PARTS))
def test_each_part_imports_only_what_its_layer_may(part: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imports(path) & FORBIDDEN_PARTS[part])
        for path in (ROOT / part).rglob("*.py")
        if imports(path) & FORBIDDEN_PARTS[part]
    }
    assert not offenders
