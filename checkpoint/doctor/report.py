"""One result per check, and the table a deployer reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rich.table import Table


class State(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but look at it
    FAIL = "fail"  # the box will not work like this


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    detail: str


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
