"""The policy as data: what each input means for the verdict, versioned and pushable from central.

A policy is a YAML document validated into `Policy`. `decide` is pure: facts in, outcome out.
Every finding contributes a reason, a decision (the strictest wins: deny > review > pass) and the
follow-up actions staff must take; the kiosk and central translate reasons and follow-ups to words.

Also here, first: the facts the policy reads about one traveller (PassageFacts and its parts). They
hold the full identity — the agent needs it to check the watch-list and to fill a flagged verdict —
and never leave the box as such: agent.passage turns them into the contract's masked, pseudonymous
inputs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contract.messages import (
    CheckpointKind,
    CodeColour,
    ColourSource,
    Decision,
    FollowUp,
    IdSource,
    Reason,
    Registration,
    TravelInput,
)


class Facts(BaseModel):
    model_config = ConfigDict(frozen=True)


class PersonFacts(Facts):
    source: IdSource
    id_number: str
    name: str = ""
    card_type: str | None = None
    card_expired: bool = False


class CodeFacts(Facts):
    colour: CodeColour
    source: ColourSource
    issuer: str | None = None
    detail: str = ""
    expired: bool = False  # a signed code past its expiry
    forged: bool = False  # a signature that does not verify


class TempReading(Facts):
    """One measurement as the thermometer's measurement layer reported it (offset already applied)."""

    body_c: float | None  # None when the reading was implausible
    object_c: float | None = None
    offset_c: float = 0.0
    sensor: str = "unknown"

    @property
    def valid(self) -> bool:
        return self.body_c is not None


class PassageFacts(Facts):
    person: PersonFacts | None = None
    code: CodeFacts | None = None
    temps: tuple[TempReading, ...] = ()
    travel: TravelInput | None = None
    registration: Registration | None = None  # the person's pre-registration (报备) that counts today


DEFAULT_POLICY = Path(__file__).with_name("policy_default.yaml")
HOURS = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
_SEVERITY = {Decision.PASS: 0, Decision.REVIEW: 1, Decision.DENY: 2}


class Input(StrEnum):
    ID = "id"
    CODE = "code"
    TEMPERATURE = "temperature"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Decision
    follow_up: tuple[FollowUp, ...] = ()


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    fever_c: float = Field(default=37.3, ge=36.5, le=40)
    plausible_min_c: float = Field(default=34.0, ge=25)
    plausible_max_c: float = Field(default=42.5, le=45)
    remeasure_fever: bool = True  # a first reading at or above fever_c is measured again before confirming
    required: dict[CheckpointKind, frozenset[Input]]
    codes: dict[CodeColour, Rule]
    screen_colour_may_pass: bool = True  # whether a colour read off the screen alone may give `pass`
    fever: Rule
    fever_unconfirmed: Rule
    temp_invalid: Rule
    missing_input: Rule
    card_expired: Rule
    code_expired: Rule
    code_forged: Rule
    watchlist: Rule
    risk_area_origin: Rule
    out_of_province: Rule | None = None  # districts that required outsiders to register (报备), or turned them back
    pre_registered: Rule | None = None  # a registered traveller: by default informative (no out_of_province rule)

    # when a box may switch to a new release: local "HH:MM-HH:MM" spans (one may pass midnight);
    # none: at any time (a box switches only between passages in any case)
    update_hours: tuple[Annotated[str, StringConstraints(pattern=HOURS)], ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.plausible_min_c >= self.plausible_max_c:
            raise ValueError("plausible_min_c must be below plausible_max_c")
        if not self.plausible_min_c < self.fever_c < self.plausible_max_c:
            raise ValueError("fever_c must lie inside the plausible range")
        missing = set(CodeColour) - set(self.codes)
        if missing:
            raise ValueError(f"codes: no rule for {', '.join(sorted(missing))}")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> Policy:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

    def may_update(self, at: time) -> bool:
        """Whether `at` (the box's local time of day) lies in one of the update hours."""
        if not self.update_hours:
            return True
        for span in self.update_hours:
            first, last = (time.fromisoformat(end) for end in span.split("-"))
            if (first <= at < last) if first <= last else (at >= first or at < last):
                return True
        return False

    def is_fever(self, reading: TempReading) -> bool:
        return reading.body_c is not None and reading.body_c >= self.fever_c

    def needs_remeasure(self, temps: tuple[TempReading, ...]) -> bool:
        """Whether the passage should wait for another measurement before deciding."""
        if not temps:
            return False
        last = temps[-1]
        if not last.valid:
            return len(temps) < 3  # implausible: try again, but not forever
        return self.remeasure_fever and self.is_fever(last) and sum(map(self.is_fever, temps)) < 2


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    reasons: tuple[Reason, ...]
    follow_up: tuple[FollowUp, ...]


def decide(
    policy: Policy,
    kind: CheckpointKind,
    facts: PassageFacts,
    *,
    pseudonym: str | None,
    watchlist: Collection[str] = (),
    risk_areas: Collection[str] = (),
    home_province: str | None = None,
) -> Outcome:
    findings: list[tuple[Reason, Rule | None]] = []  # None: informative, does not change the decision
    required = policy.required[kind]
    if Input.ID in required and facts.person is None:
        findings.append((Reason.MISSING_ID, policy.missing_input))
    findings += _code_findings(policy, facts, Input.CODE in required)
    findings += _temperature_findings(policy, facts, Input.TEMPERATURE in required)
    if facts.person is not None:
        if facts.person.card_expired:
            findings.append((Reason.CARD_EXPIRED, policy.card_expired))
        if pseudonym is not None and pseudonym in watchlist:
            findings.append((Reason.WATCHLIST, policy.watchlist))
        outsider = home_province and facts.person.id_number[:2] != home_province
        if facts.registration is not None:
            findings.append((Reason.PRE_REGISTERED, policy.pre_registered))
        elif outsider and policy.out_of_province is not None:
            findings.append((Reason.OUT_OF_PROVINCE, policy.out_of_province))
    origin = facts.travel.origin if facts.travel else None
    if origin and in_risk_area(origin, risk_areas):
        findings.append((Reason.RISK_AREA_ORIGIN, policy.risk_area_origin))
    outcome = _combine(findings)
    if facts.registration is not None:  # registered already: the destination knows they are coming
        kept = tuple(f for f in outcome.follow_up if f is not FollowUp.REGISTER_DESTINATION)
        outcome = outcome.model_copy(update={"follow_up": kept})
    return outcome


def _code_findings(policy: Policy, facts: PassageFacts, required: bool) -> list[tuple[Reason, Rule | None]]:
    code = facts.code
    if code is None:
        return [(Reason.MISSING_CODE, policy.missing_input)] if required else []
    if code.forged:
        return [(Reason.CODE_FORGED, policy.code_forged)]
    if code.expired:
        return [(Reason.CODE_EXPIRED, policy.code_expired)]
    reason = {
        CodeColour.GREEN: Reason.CODE_GREEN,
        CodeColour.YELLOW: Reason.CODE_YELLOW,
        CodeColour.RED: Reason.CODE_RED,
    }.get(code.colour, Reason.CODE_UNREADABLE)
    rule = policy.codes[code.colour]
    findings: list[tuple[Reason, Rule | None]] = [(reason, rule)]
    if code.source is ColourSource.SCREEN_COLOUR:
        weak = None if policy.screen_colour_may_pass else policy.missing_input
        findings.append((Reason.CODE_COLOUR_ONLY, weak if rule.decision is Decision.PASS else None))
    return findings


def _temperature_findings(policy: Policy, facts: PassageFacts, required: bool) -> list[tuple[Reason, Rule | None]]:
    if not facts.temps:
        return [(Reason.MISSING_TEMP, policy.missing_input)] if required else []
    valid = [t for t in facts.temps if t.valid]
    if not valid:
        return [(Reason.TEMP_INVALID, policy.temp_invalid)]
    fevers = sum(map(policy.is_fever, valid))
    if not policy.is_fever(valid[-1]):
        return [(Reason.TEMP_NORMAL, None)]
    if fevers >= 2 or not policy.remeasure_fever:
        return [(Reason.FEVER_CONFIRMED, policy.fever)]
    return [(Reason.FEVER_FIRST_READING, policy.fever_unconfirmed)]


def in_risk_area(origin: str, risk_areas: Collection[str]) -> bool:
    """Match a region code against the list; 440000 covers the province, 440300 the prefecture."""
    return any(origin.startswith(area[: _prefix_len(area)]) for area in risk_areas)


def _prefix_len(area: str) -> int:
    if area.endswith("0000"):
        return 2
    if area.endswith("00"):
        return 4
    return 6


def _combine(findings: list[tuple[Reason, Rule | None]]) -> Outcome:
    decision = Decision.PASS
    follow_up: list[FollowUp] = []
    for _, rule in findings:
        if rule is None:
            continue
        if _SEVERITY[rule.decision] > _SEVERITY[decision]:
            decision = rule.decision
        follow_up += [f for f in rule.follow_up if f not in follow_up]
    return Outcome(decision=decision, reasons=tuple(r for r, _ in findings), follow_up=tuple(follow_up))
