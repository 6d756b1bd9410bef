from agent.passage import PassageMachine
from agent.policy import DEFAULT_POLICY, CodeFacts, Input, PersonFacts, Policy, TempReading
from contract.messages import CheckpointKind, CodeColour, ColourSource, IdSource, TravelInput

POLICY = Policy.from_yaml(DEFAULT_POLICY)
A = PersonFacts(source=IdSource.CARD, id_number="11010519491231002X", name="测试甲")
B = PersonFacts(source=IdSource.CARD, id_number="440524188001010014", name="测试乙")
GREEN = CodeFacts(colour=CodeColour.GREEN, source=ColourSource.SIGNED_PAYLOAD)


def temp(v: float | None) -> TempReading:
    return TempReading(body_c=v, sensor="t")


def machine(kind: CheckpointKind = CheckpointKind.TRAFFIC) -> PassageMachine:
    return PassageMachine(kind, lambda: POLICY, timeout_s=20)


def test_closes_when_every_required_input_is_there() -> None:
    m = machine()
    assert m.card(A, 0) == [] and m.missing() == (Input.CODE, Input.TEMPERATURE)
    assert m.code(GREEN, "code-a", 1) == []
    (facts,) = m.temperature(temp(36.5), 2)
    assert facts.person == A and facts.code == GREEN and [t.body_c for t in facts.temps] == [36.5]
    assert m.current is None


def test_community_needs_no_card() -> None:
    m = machine(CheckpointKind.COMMUNITY)
    m.temperature(temp(36.4), 0)
    (facts,) = m.code(GREEN, "c", 1)
    assert facts.person is None


def test_a_fever_waits_for_the_remeasure() -> None:
    m = machine()
    m.card(A, 0)
    m.code(GREEN, "c", 0)
    assert m.temperature(temp(37.6), 1) == []
    assert m.view().remeasure
    (facts,) = m.temperature(temp(37.8), 5)
    assert [t.body_c for t in facts.temps] == [37.6, 37.8]


def test_a_new_card_closes_the_old_passage_never_mixing_travellers() -> None:
    m = machine()
    m.card(A, 0)
    m.code(GREEN, "code-a", 1)
    (old,) = m.card(B, 2)
    assert old.person == A and old.temps == ()
    assert m.current is not None and m.current.person == B and m.current.code is None


def test_a_different_code_closes_the_old_passage_the_same_code_does_not() -> None:
    m = machine(CheckpointKind.COMMUNITY)
    m.code(GREEN, "code-a", 0)
    assert m.code(GREEN, "code-a", 1) == []
    (old,) = m.code(GREEN, "code-b", 2)
    assert old.code == GREEN and m.current is not None and m.current.code_key == "code-b"


def test_timeout_closes_an_incomplete_passage() -> None:
    m = machine()
    m.card(A, 0)
    assert m.tick(19.9) == []
    (facts,) = m.tick(20.0)
    assert facts.person == A and facts.code is None


def test_staff_remeasure_holds_the_passage_open() -> None:
    m = machine(CheckpointKind.COMMUNITY)
    m.code(GREEN, "c", 0)
    m.remeasure(1)
    (facts,) = m.temperature(temp(36.6), 2)
    assert len(facts.temps) == 1


def test_the_vehicle_applies_to_each_occupant_at_traffic_checkpoints() -> None:
    m = machine()
    m.set_vehicle(TravelInput(plate="粤B12345", origin="440305", destination="本区"))
    for person in (A, B):
        m.card(person, 0)
        m.code(GREEN, person.id_number, 0)
        (facts,) = m.temperature(temp(36.5), 0)
        assert facts.travel is not None and facts.travel.plate == "粤B12345"
