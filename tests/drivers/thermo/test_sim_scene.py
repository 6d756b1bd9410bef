from __future__ import annotations

from statistics import mean

from drivers.thermo.sim_scene import Scene


def test_the_empty_scene_reads_near_the_air_and_a_forehead_below_the_core() -> None:
    scene = Scene(seed=3, air_c=22.0, forehead_gap_c=1.0)
    empty = [scene.sample() for _ in range(50)]
    scene.subject(37.0)
    subject = [scene.sample() for _ in range(50)]
    assert 22.0 < mean(o for o, _ in empty) < 23.0
    assert 35.7 < mean(o for o, _ in subject) < 36.3
    assert all(21.0 < a < 24.0 for _, a in empty + subject)  # the sensor's own ambient channel
    assert len({o for o, _ in subject}) > 10  # noisy, not constant


def test_a_seed_makes_it_repeatable() -> None:
    first, second = Scene(seed=7), Scene(seed=7)
    assert [first.sample() for _ in range(20)] == [second.sample() for _ in range(20)]
