"""The case workflow: which action may follow which, what each records, unmasking is audited."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from central import audit, queries
from central.auth import Role, User
from central.casework import CaseAction, WorkflowError, apply, unmask
from central.regions import WHOLE
from central.store import Store
from tests.central.conftest import flagged, rows, synthetic_id

OPERATOR = User(id=1, username="op-zhang", role=Role.OPERATOR)

# (steps already taken, next step, allowed)
TABLE = [
    ([], "contact", True),
    ([], "transfer", True),
    ([], "close", True),
    (["contact"], "contact", False),
    (["contact"], "transfer", True),
    (["contact", "transfer"], "transfer", True),  # moved on to another destination
    (["contact", "transfer"], "close", True),
    (["close"], "contact", False),
    (["close"], "transfer", False),
    (["close"], "assign", False),
    (["close"], "note", True),
]
STEPS = {
    "contact": CaseAction(action="contact"),
    "transfer": CaseAction(action="transfer", transfer_kind="isolation_site", transfer_to="城东隔离酒店"),
    "close": CaseAction(action="close", note="隔离期满"),
    "assign": CaseAction(action="assign", assignee="李工"),
    "note": CaseAction(action="note", note="已电话联系"),
}


def _case(store: Store) -> int:
    store.write_batch(rows(flagged(1)))
    (case,) = queries.list_cases(store.engine, WHOLE)
    return int(case["id"])


@pytest.mark.parametrize(("before", "step", "allowed"), TABLE)
def test_the_workflow_table(sqlite_store: Store, before: list[str], step: str, allowed: bool) -> None:
    case_id = _case(sqlite_store)
    for name in before:
        apply(sqlite_store.engine, case_id, STEPS[name], OPERATOR, WHOLE)
    if allowed:
        apply(sqlite_store.engine, case_id, STEPS[step], OPERATOR, WHOLE)
    else:
        with pytest.raises(WorkflowError, match="cannot"):
            apply(sqlite_store.engine, case_id, STEPS[step], OPERATOR, WHOLE)


def test_a_transfer_records_where_and_by_whom(sqlite_store: Store) -> None:
    case_id = _case(sqlite_store)
    apply(sqlite_store.engine, case_id, STEPS["transfer"], OPERATOR, WHOLE)
    apply(sqlite_store.engine, case_id, STEPS["close"], OPERATOR, WHOLE)
    case = queries.case(sqlite_store.engine, case_id, WHOLE)
    assert case is not None
    assert (case["status"], case["transfer_kind"], case["transfer_to"]) == ("closed", "isolation_site", "城东隔离酒店")
    assert case["closed_at"] is not None
    assert [(e["action"], e["actor"]) for e in case["events"]][1:] == [("transfer", "op-zhang"), ("close", "op-zhang")]


@pytest.mark.parametrize(
    "fields",
    [{"action": "transfer", "transfer_kind": "fever_clinic"}, {"action": "transfer", "transfer_to": "x"},
     {"action": "assign"}, {"action": "note", "note": "  "}, {"action": "reopen"},
     {"action": "transfer", "transfer_kind": "hotel", "transfer_to": "x"}],
)
def test_incomplete_actions_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CaseAction(**fields)  # type: ignore[arg-type]


def test_unmasking_shows_the_identity_and_is_audited(sqlite_store: Store) -> None:
    case_id = _case(sqlite_store)
    assert "identity" not in (queries.case(sqlite_store.engine, case_id, WHOLE) or {})
    identity = unmask(sqlite_store.engine, case_id, OPERATOR, WHOLE, "10.0.0.7", "转运前核对身份")
    assert identity == {"name": "测试1号", "id_number": synthetic_id(seq=1), "card_type": None}
    (entry,) = audit.recent(sqlite_store.engine, WHOLE, action="unmask")
    assert (entry["username"], entry["target"], entry["detail"], entry["address"]) == (
        "op-zhang", f"case {case_id}", "转运前核对身份", "10.0.0.7")
    with pytest.raises(WorkflowError):
        unmask(sqlite_store.engine, 999, OPERATOR, WHOLE, "", "x")
