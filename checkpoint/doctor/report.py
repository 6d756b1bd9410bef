"""The table a deployer reads. A check's result is the contract's `Check`: a running box sends the
same in its diagnostics answer (agent.doctor), and central shows it."""

from __future__ import annotations

from rich.table import Table

from contract.messages import Check
from contract.messages import CheckState as State

__all__ = ["Check", "State", "failed", "table"]

_STYLE = {State.OK: "green", State.WARN: "yellow", State.FAIL: "bold red"}


def table(checks: list[Check], title: str) -> Table:
    out = Table(title=title)
    out.add_column("check")
    out.add_column("state")
    out.add_column("detail", overflow="fold")
    for check in checks:
        out.add_row(check.name, f"[{_STYLE[check.state]}]{check.state.value}[/]", check.detail)
    return out


def failed(checks: list[Check]) -> bool:
    return any(c.state is State.FAIL for c in checks)
