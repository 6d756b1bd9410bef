"""The case workflow the office follows: new -> contacted -> transferred -> closed.

Each action is a row of `ACTIONS`: the states it may start from and the state it leads to (None:
the state stays). A transfer names where the person went (an isolation site, a fever clinic, home
quarantine) and the destination. The state change is a conditional UPDATE, so two operators
clicking at once cannot both move a case from the same state. Every action leaves an event with
its author and time; unmasking a person's identity also leaves an audit entry. A case outside the
user's scope is refused as if it did not exist (NoCase).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, select

from central import audit
from central.auth import User
from central.regions import Scope
from central.schema import case_events, cases
from central.sql import now
from central.text import Line, Paragraph


class CaseStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    TRANSFERRED = "transferred"
    CLOSED = "closed"


class TransferKind(StrEnum):
    ISOLATION_SITE = "isolation_site"  # 集中隔离点
    FEVER_CLINIC = "fever_clinic"  # 发热门诊
    HOME_QUARANTINE = "home_quarantine"  # 居家隔离


_OPEN = frozenset({CaseStatus.NEW, CaseStatus.CONTACTED, CaseStatus.TRANSFERRED})
_ALL = frozenset(CaseStatus)
ACTIONS: dict[str, tuple[frozenset[CaseStatus], CaseStatus | None]] = {
    "contact": (frozenset({CaseStatus.NEW}), CaseStatus.CONTACTED),
    "transfer": (_OPEN, CaseStatus.TRANSFERRED),
    "close": (_OPEN, CaseStatus.CLOSED),
    "assign": (_OPEN, None),
    "note": (_ALL, None),
}


class CaseAction(BaseModel):
    """One step of the workflow, as the API and the case page send it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["contact", "transfer", "close", "assign", "note"]
    note: Paragraph = Field(default="", max_length=2000)
    transfer_kind: TransferKind | None = None
    transfer_to: Line | None = Field(default=None, max_length=200)
    assignee: Line | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _complete(self) -> CaseAction:
        if self.action == "transfer" and (self.transfer_kind is None or not (self.transfer_to or "").strip()):
            raise ValueError("a transfer names its kind and its destination")
        if self.action == "assign" and not (self.assignee or "").strip():
            raise ValueError("an assignment names the assignee")
        if self.action == "note" and not self.note.strip():
            raise ValueError("a note has some text")
        return self


class WorkflowError(Exception):
    """The action does not fit the case (a state it cannot start from)."""


class NoCase(WorkflowError):
    """No such case, or none the user's scope covers."""


def apply(engine: Engine, case_id: int, step: CaseAction, user: User, scope: Scope) -> None:
    starts, leads_to = ACTIONS[step.action]
    values: dict[str, Any] = {"updated_at": now()}
    if leads_to is not None:
        values["status"] = leads_to.value
    if leads_to is CaseStatus.CLOSED:
        values["closed_at"] = values["updated_at"]
    if step.action == "transfer":
        values.update(transfer_kind=step.transfer_kind, transfer_to=(step.transfer_to or "").strip())
    if step.action == "assign":
        values["assignee"] = (step.assignee or "").strip()
    detail = step.model_dump(mode="json", exclude_none=True, exclude={"action"})
    with engine.begin() as conn:
        done = conn.execute(
            cases.update()
            .where(cases.c.id == case_id, cases.c.status.in_([s.value for s in starts]), scope.case_in())
            .values(**values)
        )
        if done.rowcount != 1:
            status = conn.scalar(select(cases.c.status).where(cases.c.id == case_id, scope.case_in()))
            if status is None:
                raise NoCase(f"no case {case_id}")
            raise WorkflowError(f"cannot {step.action} a case that is {status}")
        conn.execute(
            case_events.insert().values(case_id=case_id, at=values["updated_at"], actor=user.username,
                                        action=step.action, detail=detail)
        )


def unmask(
    engine: Engine, case_id: int, user: User, scope: Scope, address: str, why: str
) -> dict[str, Any] | None:
    """The person's full identity, recorded in the audit log and on the case in the same transaction."""
    with engine.begin() as conn:
        row = conn.execute(select(cases.c.identity, cases.c.id_masked)
                           .where(cases.c.id == case_id, scope.case_in())).first()
        if row is None:
            raise NoCase(f"no case {case_id}")
        audit.record(conn, user.username, "unmask", f"case {case_id}", why or f"{row.id_masked or ''}", address)
        conn.execute(
            case_events.insert().values(case_id=case_id, at=now(), actor=user.username, action="unmask",
                                        detail={"why": why})
        )
    return dict(row.identity) if row.identity else None
