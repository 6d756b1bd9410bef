"""The layers stay as designed, checked on the source (no import side effects).

    checkpoint   the command line, demo, provisioning, doctor: may use everything, imported by nothing
    agent        verdicts: uses drivers, contract, common
    central      storage and people: uses contract, common
    drivers      hardware: uses contract, common
    contract     the messages both sides speak: pydantic, the standard library, cryptography
    common       what every part shares (settings, logs, backoff, systemd, MQTT set-up): no part

- Layers only point down, and no module of the project imports itself round in a circle.
- Codecs and other pure logic import nothing that does I/O (no port, socket, thread, clock, database).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("checkpoint", "agent", "central", "drivers", "contract", "common")
MAY_USE = {
    "checkpoint": {"agent", "central", "drivers", "contract", "common"},
    "agent": {"drivers", "contract", "common"},
    "central": {"contract", "common"},
    "drivers": {"contract", "common"},
    "contract": set(),
    "common": set(),
}
CONTRACT_LIBRARIES = {"pydantic", "cryptography"}  # besides the standard library
IO = {"serial", "socket", "asyncio", "threading", "paho", "sqlite3", "time", "select", "os", "httpx", "subprocess"}
PURE = sorted(
    [
        *(ROOT / "drivers/idcard" / name for name in ("codec.py", "cards.py")),
        *(ROOT / "drivers/thermo/codecs").glob("*.py"),
        ROOT / "drivers/thermo/measure.py",
        ROOT / "drivers/thermo/events.py",
        *(ROOT / "drivers/camera" / name for name in ("colour.py", "render.py", "events.py")),
        *(ROOT / "agent/healthcode" / name for name in ("signed_format.py", "keys.py", "status.py")),
        *(ROOT / "agent" / name for name in ("switch.py", "policy.py", "passage.py", "delivery.py")),
        *(ROOT / "contract").glob("*.py"),
        ROOT / "central/lives.py",
        ROOT / "central/obligation_state.py",
        ROOT / "central/intake.py",
        ROOT / "central/rollout.py",
        ROOT / "central/writer_state.py",
    ]
)


def modules() -> dict[str, Path]:
    """Every module of the project's parts, by dotted name."""
    found = {}
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports(path: Path) -> set[str]:
    """Dotted names of every absolute import in a module, wherever it stands (inside functions too);
    `from a import b` gives a.b when b is a module of the project."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
            names |= submodules or {node.module}  # `from package import module` uses that module
    return names


def top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_do_no_io(path: Path) -> None:
    assert path.exists()
    assert not top(imports(path)) & IO


@pytest.mark.parametrize("part", PARTS)
def test_each_part_imports_only_the_layers_below_it(part: str) -> None:
    forbidden = set(PARTS) - MAY_USE[part] - {part}
    offenders = {
        str(path.relative_to(ROOT)): sorted(top(imports(path)) & forbidden)
        for path in (ROOT / part).rglob("*.py")
        if top(imports(path)) & forbidden
    }
    assert not offenders


def test_the_contract_needs_only_pydantic_and_cryptography() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    outside = {
        str(path.relative_to(ROOT)): sorted(top(imports(path)) - stdlib - CONTRACT_LIBRARIES - {"contract"})
        for path in (ROOT / "contract").rglob("*.py")
    }
    assert not {k: v for k, v in outside.items() if v}


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = {name: {i for i in imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert not circles


def test_the_repository_points_only_inside_itself() -> None:
    """Code and docs never send a maintainer to documents outside the repository: what they need is in docs/."""
    elsewhere = r"\.\./shared|/work/shared|(?<![\w/])(DESIGN|STYLE)\.md"
    outside = re.compile(elsewhere + r"|(?<![\w/.\[])protocols\.md")  # docs/protocols.md is ours
    in_docs = re.compile(elsewhere)  # where a bare protocols.md is docs/protocols.md
    suffixes = {".py", ".md", ".json", ".sh", ".yaml", ".toml", ".conf", ".service"}
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in ROOT.rglob("*")
        if path.suffix in suffixes and not {".venv", ".git", "node_modules"} & set(path.parts)
        and path.is_file() and path != Path(__file__)
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
        if (in_docs if path.parent == ROOT / "docs" else outside).search(line)
    ]
    assert not found
