from datetime import date, time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from agent.policy import (
    DEFAULT_POLICY,
    CodeFacts,
    PassageFacts,
    PersonFacts,
    Policy,
    Rule,
    TempReading,
    decide,
    in_risk_area,
)
from contract.messages import (
    CheckpointKind,
    CodeColour,
    ColourSource,
    Decision,
    FollowUp,
    IdSource,
    Reason,
    Registration,
)
from contract.messages import TravelInput as Travel

POLICY = Policy.from_yaml(DEFAULT_POLICY)
PERSON = PersonFacts(source=IdSource.CARD, id_number="11010519491231002X", name="测试甲")


def t(*values: float | None) -> tuple[TempReading, ...]:
    return tuple(TempReading(body_c=v, sensor="test") for v in values)


def code(colour: CodeColour, **kw: object) -> CodeFacts:
    return CodeFacts(colour=colour, source=ColourSource.SIGNED_PAYLOAD, **kw)


GREEN = code(CodeColour.GREEN)

CASES = [
    # (name, kind, facts, expected decision, reasons that must appear, follow-ups that must appear)
    ("green and normal", "traffic", PassageFacts(person=PERSON, code=GREEN, temps=t(36.5)), "pass", ["code_green"], []),
    (
        "yellow",
        "traffic",
        PassageFacts(person=PERSON, code=code(CodeColour.YELLOW), temps=t(36.5)),
        "review",
        ["code_yellow"],
        ["test_on_arrival"],
    ),
    (
        "red",
        "traffic",
        PassageFacts(person=PERSON, code=code(CodeColour.RED), temps=t(36.5)),
        "deny",
        ["code_red"],
        ["isolation_transfer"],
    ),
    (
        "first fever reading only",
        "traffic",
        PassageFacts(person=PERSON, code=GREEN, temps=t(37.5)),
        "review",
        ["fever_first_reading"],
        [],
    ),
    (
        "fever confirmed",
        "traffic",
        PassageFacts(person=PERSON, code=GREEN, temps=t(37.5, 37.8)),
        "deny",
        ["fever_confirmed"],
        ["fever_clinic"],
    ),
    (
        "fever not confirmed",
        "traffic",
        PassageFacts(person=PERSON, code=GREEN, temps=t(37.4, 36.6)),
        "pass",
        ["temp_normal"],
        [],
    ),
    (
        "implausible only",
        "traffic",
        PassageFacts(person=PERSON, code=GREEN, temps=t(None, None, None)),
        "review",
        ["temp_invalid"],
        [],
    ),
    ("no card at traffic", "traffic", PassageFacts(code=GREEN, temps=t(36.5)), "review", ["missing_id"], []),
    ("no card at community", "community", PassageFacts(code=GREEN, temps=t(36.5)), "pass", ["code_green"], []),
    ("no code", "community", PassageFacts(temps=t(36.5)), "review", ["missing_code"], []),
    (
        "expired card",
        "traffic",
        PassageFacts(person=PERSON.model_copy(update={"card_expired": True}), code=GREEN, temps=t(36.5)),
        "review",
        ["card_expired"],
        [],
    ),
    (
        "forged code",
        "traffic",
        PassageFacts(person=PERSON, code=code(CodeColour.GREEN, forged=True), temps=t(36.5)),
        "deny",
        ["code_forged"],
        [],
    ),
    (
        "risk-area origin",
        "traffic",
        PassageFacts(person=PERSON, code=GREEN, temps=t(36.5), travel=Travel(origin="440305")),
        "review",
        ["risk_area_origin"],
        ["register_destination"],
    ),
]


@pytest.mark.parametrize(
    ("name", "kind", "facts", "decision", "reasons", "follow_up"), CASES, ids=[c[0] for c in CASES]
)
def test_decisions(
    name: str, kind: str, facts: PassageFacts, decision: str, reasons: list[str], follow_up: list[str]
) -> None:
    out = decide(POLICY, CheckpointKind(kind), facts, pseudonym="p", risk_areas={"440300"})
    assert out.decision == Decision(decision)
    assert set(map(Reason, reasons)) <= set(out.reasons)
    assert set(map(FollowUp, follow_up)) <= set(out.follow_up)


def test_watchlist_hit_denies() -> None:
    facts = PassageFacts(person=PERSON, code=GREEN, temps=t(36.5))
    out = decide(POLICY, CheckpointKind.TRAFFIC, facts, pseudonym="p1", watchlist={"p1"})
    assert out.decision is Decision.DENY and Reason.WATCHLIST in out.reasons


def test_outsiders_register_where_policy_says() -> None:
    facts = PassageFacts(person=PERSON, code=GREEN, temps=t(36.5))
    out = decide(POLICY, CheckpointKind.TRAFFIC, facts, pseudonym="p", home_province="44")
    assert out.decision is Decision.PASS and FollowUp.REGISTER_DESTINATION in out.follow_up


REGISTERED = Registration(destination="420102001003", expected=date(2026, 12, 1), place="天声街社区")
TURN_BACK = POLICY.model_copy(update={"out_of_province": Rule(decision=Decision.DENY, follow_up=(FollowUp.TURN_BACK,))})
ARRIVING = PassageFacts(person=PERSON, code=GREEN, temps=t(36.5))
OUTSIDERS = [  # (name, policy, home province, facts, decision, reasons that must appear, follow-ups exactly)
    ("unregistered: registers on the spot", POLICY, "44", ARRIVING, "pass", ["out_of_province"],
     ["register_destination"]),
    ("registered in advance", POLICY, "44", ARRIVING.model_copy(update={"registration": REGISTERED}), "pass",
     ["pre_registered"], []),
    ("unregistered where the policy turns them back (劝返)", TURN_BACK, "44", ARRIVING, "deny", ["out_of_province"],
     ["turn_back"]),
    ("registered where the policy turns the others back", TURN_BACK, "44",
     ARRIVING.model_copy(update={"registration": REGISTERED}), "pass", ["pre_registered"], []),
    ("registered, from a risk area: tested, not registered again", POLICY, "44",
     ARRIVING.model_copy(update={"registration": REGISTERED, "travel": Travel(origin="440305")}), "review",
     ["pre_registered", "risk_area_origin"], ["test_on_arrival"]),
    ("registered, from this province", POLICY, "11", ARRIVING.model_copy(update={"registration": REGISTERED}),
     "pass", ["pre_registered"], []),
]


@pytest.mark.parametrize(("name", "policy", "home", "facts", "decision", "reasons", "follow_up"), OUTSIDERS,
                         ids=[c[0] for c in OUTSIDERS])
def test_out_of_province_arrivals_and_pre_registration(
    name: str, policy: Policy, home: str, facts: PassageFacts, decision: str, reasons: list[str], follow_up: list[str]
) -> None:
    out = decide(policy, CheckpointKind.TRAFFIC, facts, pseudonym="p", risk_areas={"440300"}, home_province=home)
    assert out.decision == Decision(decision)
    assert set(map(Reason, reasons)) <= set(out.reasons)
    assert list(out.follow_up) == list(map(FollowUp, follow_up))
    assert (Reason.OUT_OF_PROVINCE in out.reasons) is (facts.registration is None and home == "44")


def test_threshold_is_policy_not_code() -> None:
    strict = POLICY.model_copy(update={"fever_c": 38.0})
    facts = PassageFacts(person=PERSON, code=GREEN, temps=t(37.6, 37.7))
    assert decide(strict, CheckpointKind.TRAFFIC, facts, pseudonym="p").decision is Decision.PASS


def test_remeasure_rule() -> None:
    assert POLICY.needs_remeasure(t(37.5))
    assert not POLICY.needs_remeasure(t(37.5, 37.6))
    assert not POLICY.needs_remeasure(t(36.5))
    assert POLICY.needs_remeasure(t(None)) and not POLICY.needs_remeasure(t(None, None, None))


@pytest.mark.parametrize(
    ("origin", "areas", "hit"),
    [
        ("440305", ["440300"], True),
        ("440305", ["440000"], True),
        ("440305", ["440306"], False),
        ("450305", ["440000"], False),
        ("100105", ["100000"], True),
        ("110105", ["100000"], False),
    ],
)
def test_risk_area_prefixes(origin: str, areas: list[str], hit: bool) -> None:
    assert in_risk_area(origin, areas) is hit


def test_an_inconsistent_policy_is_refused_with_the_reason(tmp_path: Path) -> None:
    doc = POLICY.model_dump(mode="json") | {"fever_c": 43.0}
    with pytest.raises(ValidationError, match="fever_c"):
        Policy.model_validate(doc)


@pytest.mark.parametrize(("hours", "at", "may"), [
    ((), time(12, 0), True),  # none set: any time (and always between passages)
    (("01:00-05:00",), time(3, 0), True),
    (("01:00-05:00",), time(5, 0), False),
    (("23:00-04:00",), time(23, 30), True),  # across midnight
    (("23:00-04:00",), time(3, 59), True),
    (("23:00-04:00",), time(12, 0), False),
    (("02:00-03:00", "13:00-14:00"), time(13, 30), True),
])
def test_updates_switch_only_within_the_update_hours(hours: tuple[str, ...], at: time, may: bool) -> None:
    policy = Policy.from_yaml(DEFAULT_POLICY).model_copy(update={"update_hours": hours})
    assert policy.may_update(at) is may


def test_update_hours_are_checked_when_the_policy_is_read() -> None:
    document = {**yaml.safe_load(DEFAULT_POLICY.read_text()), "update_hours": ["25:00-03:00"]}
    with pytest.raises(ValidationError, match="update_hours"):
        Policy.model_validate(document)
