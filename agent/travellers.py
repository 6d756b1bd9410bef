"""Synthetic travellers for the simulated station, the demo and the tests — never real people.

Names are drawn from invented syllables; ID numbers use real region-code *formats* with random
birth dates and sequence numbers and a correct check character. The mix follows what checkpoints
saw on an ordinary day: about 90 % green codes and normal temperatures, some yellow, a few red,
a few fevers (half of them confirmed on the re-measure), some expired cards and missing inputs.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from contract import idnumber
from contract.messages import CodeColour

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "安柏辰达恩凡歌航佳景凯岚朗米宁沛琪然思桐薇曦妍悦云哲"
REGIONS = ("110105", "310104", "440305", "420106", "510107", "330106", "320102", "610113", "430102")
ORIGINS = ("110105", "310104", "440305", "420106", "510107", "330106", "320102", "610113")
PLATE_PREFIX = ("京A", "沪B", "粤B", "鄂A", "川A", "浙A", "苏A", "陕A", "湘A")


class Traveller(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    id_number: str
    card_expired: bool = False
    has_card: bool = True  # False: the reader fails and staff must type the number
    shows_code: bool = True
    colour: CodeColour = CodeColour.GREEN
    temps_c: tuple[float, ...] = (36.5,)  # first reading, then the re-measures the policy will ask for
    plate: str | None = None
    origin: str | None = None
    destination: str | None = None


def synthetic_id(rng: random.Random, region: str | None = None, birth: date | None = None) -> str:
    region = region or rng.choice(REGIONS)
    birth = birth or date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    first17 = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + idnumber.check_character(first17)


def synthetic_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


class TravellerMix:
    """A reproducible stream of travellers with the everyday mix of outcomes."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def next(self) -> Traveller:
        rng = self.rng
        roll = rng.random()
        colour = CodeColour.GREEN
        temps: tuple[float, ...] = (round(rng.uniform(36.0, 36.9), 1),)
        if roll < 0.04:
            colour = CodeColour.YELLOW
        elif roll < 0.055:
            colour = CodeColour.RED
        elif roll < 0.065:  # a fever confirmed on the re-measure
            temps = (round(rng.uniform(37.4, 38.9), 1), round(rng.uniform(37.4, 38.9), 1))
        elif roll < 0.075:  # a first reading above the threshold, normal on the re-measure
            temps = (round(rng.uniform(37.3, 37.6), 1), round(rng.uniform(36.3, 36.9), 1))
        region = rng.choice(ORIGINS)
        return Traveller(
            name=synthetic_name(rng),
            id_number=synthetic_id(rng),
            card_expired=0.075 <= roll < 0.085,
            has_card=not 0.085 <= roll < 0.09,
            colour=colour,
            temps_c=temps,
            plate=f"{PLATE_PREFIX[ORIGINS.index(region)]}{rng.randrange(10000, 99999)}",
            origin=region,
            destination=rng.choice(("本区", "市区", "过境")),
        )
