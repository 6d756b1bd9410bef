"""The simulated travellers: the demo's mix (destinations in the sample tree, local and outside ID
numbers, more flagged codes) beside the everyday one, and the arrivals a hotel's box takes."""

from __future__ import annotations

from pathlib import Path

from agent.travellers import TravellerMix, take_arrivals
from contract import idnumber
from contract.messages import CodeColour

PLACES = ("390102001001", "390103001001")


def test_the_everyday_mix_names_no_place_and_is_mostly_green() -> None:
    mix = TravellerMix(5)
    people = [mix.next() for _ in range(2000)]
    assert all(t.destination_code is None and idnumber.is_valid(t.id_number) for t in people)
    assert sum(t.colour is CodeColour.GREEN for t in people) / len(people) > 0.85


def test_the_demo_mix_goes_to_places_of_the_tree_with_locals_and_more_flagged() -> None:
    mix = TravellerMix(5, yellow=0.12, red=0.08, destinations=PLACES, home=("390102",), home_share=0.75)
    people = [mix.next() for _ in range(2000)]
    assert {t.destination_code for t in people} == set(PLACES)
    assert 0.7 < sum(t.id_number.startswith("390102") for t in people) / len(people) < 0.8
    assert 0.06 < sum(t.colour is CodeColour.RED for t in people) / len(people) < 0.10
    assert all(idnumber.is_valid(t.id_number) for t in people)
    again = TravellerMix(5, yellow=0.12, red=0.08, destinations=PLACES, home=("390102",), home_share=0.75)
    assert [again.next() for _ in range(2000)] == people  # the demo's conductor draws the boxes' streams


def test_arrivals_are_taken_once_oldest_first(tmp_path: Path) -> None:
    assert take_arrivals(tmp_path / "none") == []
    first, second = (TravellerMix(1).next() for _ in range(2))
    (tmp_path / "00000002.json").write_text(second.model_dump_json())
    (tmp_path / "00000001.json").write_text(first.model_dump_json())
    (tmp_path / "00000003.tmp").write_text("half written")
    assert take_arrivals(tmp_path) == [first, second]
    assert take_arrivals(tmp_path) == []
