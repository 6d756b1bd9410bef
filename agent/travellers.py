"""Synthetic travellers for the simulated station, the demo and the tests — never real people.

Names are drawn from invented syllables; ID numbers use real region-code *formats* with random
birth dates and sequence numbers and a correct check character. The mix follows what checkpoints
saw on an ordinary day: about 90 % green codes and normal temperatures, some yellow, a few red,
a few fevers (half of them confirmed on the re-measure), some expired cards and missing inputs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

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
    destination_code: str | None = None  # a place of the region tree, when the mix has some


def synthetic_id(rng: random.Random, region: str | None = None, birth: date | None = None) -> str:
    region = region or rng.choice(REGIONS)
    birth = birth or date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    first17 = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + idnumber.check_character(first17)


def synthetic_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


class TravellerMix:
    """A reproducible stream of travellers with the everyday mix of outcomes.

    `yellow` and `red` are the shares of yellow and red codes (the demo raises them, so that its few
    minutes show transfers and tests owed). With `destinations` (place codes) each traveller names one;
    with `home` (region codes) a share `home_share` of the ID numbers is local, the rest from elsewhere.
    """

    def __init__(self, seed: int | None = None, *, yellow: float = 0.04, red: float = 0.015,
                 destinations: Sequence[str] = (), home: Sequence[str] = (), home_share: float = 0.75) -> None:
        self.rng = random.Random(seed)
        self._cuts = [yellow + red * i for i in (0, 1)] + [yellow + red + 0.01 * i for i in (1, 2, 3)]
        self._cuts.append(self._cuts[-1] + 0.005)
        self._destinations = tuple(destinations)
        self._home = tuple(home)
        self._home_share = home_share

    def next(self) -> Traveller:
        rng = self.rng
        yellow, red, fever, first_high, expired, no_card = self._cuts
        roll = rng.random()
        colour = CodeColour.GREEN
        temps: tuple[float, ...] = (round(rng.uniform(36.0, 36.9), 1),)
        if roll < yellow:
            colour = CodeColour.YELLOW
        elif roll < red:
            colour = CodeColour.RED
        elif roll < fever:  # a fever confirmed on the re-measure
            temps = (round(rng.uniform(37.4, 38.9), 1), round(rng.uniform(37.4, 38.9), 1))
        elif roll < first_high:  # a first reading above the threshold, normal on the re-measure
            temps = (round(rng.uniform(37.3, 37.6), 1), round(rng.uniform(36.3, 36.9), 1))
        region = rng.choice(ORIGINS)
        local = bool(self._home) and rng.random() < self._home_share
        return Traveller(
            name=synthetic_name(rng),
            id_number=synthetic_id(rng, rng.choice(self._home) if local else None),
            card_expired=first_high <= roll < expired,
            has_card=not expired <= roll < no_card,
            colour=colour,
            temps_c=temps,
            plate=f"{PLATE_PREFIX[ORIGINS.index(region)]}{rng.randrange(10000, 99999)}",
            origin=region,
            destination=rng.choice(("本区", "市区", "过境")),
            destination_code=rng.choice(self._destinations) if self._destinations else None,
        )


def take_arrivals(folder: Path) -> list[Traveller]:
    """The travellers whose files appeared in `folder` (the demo sends transferred travellers to the
    hotel's box this way), oldest first; each file is taken once."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        found.append(Traveller.model_validate_json(path.read_bytes()))
        path.unlink()
    return found
