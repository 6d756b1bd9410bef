"""A deck of synthetic cards of every type, for the simulator, the demo and tests.

Every person here is invented; the numbers are built from their parts with valid check characters
(MOD 11-2, and 7-3-1 for the 2017 foreign card). Photos and fingerprints are pseudo-random bytes of
the real sizes, not WLT images. Some cards are expired, one has no end date (长期).
"""

from __future__ import annotations

import hashlib
from datetime import date

from contract.idnumber import check_character
from drivers.idcard.cards import CardType, IdCard, check_digit_731

PHOTO_SIZE = 1024
FINGERPRINT_SIZE = 1024


def mod11_number(prefix: str, birth: date, sequence: int) -> str:
    """An 18-character number: 6-character prefix, birth date, 3-digit sequence, MOD 11-2 check."""
    first17 = f"{prefix}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def foreign_2017_number(country: str, office: str, birth: date, digit: int) -> str:
    first14 = f"{country}{office}{birth:%y%m%d}{digit}"
    return first14 + check_digit_731(first14)


def _noise(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _resident(name: str, sex: str, nation: str, birth: date, address: str, region: str, seq: int,
              issuer: str, valid: tuple[date, date | None]) -> IdCard:
    number = mod11_number(region, birth, seq)
    return IdCard(type=CardType.RESIDENT, name=name, sex=sex, nation=nation, birth=birth,
                  address=address, id_number=number, issuer=issuer, valid_from=valid[0],
                  valid_to=valid[1], photo=_noise(number, PHOTO_SIZE))


def _permit(name: str, sex: str, birth: date, address: str, prefix: str, seq: int, pass_number: str,
            valid: tuple[date, date | None]) -> IdCard:
    number = mod11_number(prefix, birth, seq)
    return IdCard(type=CardType.HK_MO_TW, name=name, sex=sex, birth=birth, address=address,
                  id_number=number, issuer="深圳市公安局", valid_from=valid[0], valid_to=valid[1],
                  pass_number=pass_number, issue_count=1, photo=_noise(number, PHOTO_SIZE))


def synthetic_deck() -> list[IdCard]:
    """Invented people on cards of every type; index 2 and 8 are expired (on any date after 2021)."""
    foreign_2017 = foreign_2017_number("USA", "1100", date(1985, 3, 12), 1)
    foreign_2023 = mod11_number("911840", date(1990, 2, 14), 2)
    return [
        _resident("王测试", "1", "01", date(1985, 3, 12), "北京市朝阳区示例路100号院3号楼2单元501室",
                  "110105", 123, "北京市公安局朝阳分局", (date(2016, 5, 1), date(2036, 5, 1))),
        _resident("阿依古丽·示例", "2", "05", date(1992, 11, 30), "新疆维吾尔自治区乌鲁木齐市天山区样本街8号",
                  "650102", 246, "乌鲁木齐市公安局天山区分局", (date(2018, 1, 9), date(2028, 1, 9))),
        _resident("李过期", "2", "03", date(1979, 7, 4), "宁夏回族自治区银川市兴庆区演示巷12号",
                  "640104", 88, "银川市公安局兴庆区分局", (date(2001, 6, 15), date(2021, 6, 15))),
        _resident("赵长期", "1", "11", date(1958, 1, 20), "辽宁省沈阳市和平区假设大街1号",
                  "210102", 17, "沈阳市公安局和平分局", (date(2012, 2, 2), None)),
        _permit("陈港示", "1", date(1990, 1, 1), "广东省深圳市福田区测试道9号", "810000", 3,
                "H01234567", (date(2019, 8, 1), date(2029, 8, 1))),
        _permit("何澳例", "2", date(1995, 6, 6), "广东省珠海市香洲区样例路6号", "820000", 4,
                "M07654321", (date(2022, 3, 3), date(2027, 3, 3))),
        _permit("林台样", "1", date(1988, 10, 10), "福建省厦门市思明区示范街3号", "830000", 5,
                "01234567", (date(2023, 4, 4), date(2028, 4, 4))),
        IdCard(type=CardType.FOREIGN_2017, name_en="TESTER ALICE MARY", name="泰爱丽", sex="2",
               nationality="USA", birth=date(1985, 3, 12), id_number=foreign_2017, issuer="1500",
               valid_from=date(2018, 7, 1), valid_to=date(2028, 7, 1), card_version="17",
               photo=_noise(foreign_2017, PHOTO_SIZE)),
        IdCard(type=CardType.FOREIGN_2017, name_en="EXAMPLE BRUNO", name="", sex="1",
               nationality="FRA", birth=date(1970, 12, 24), id_number=foreign_2017_number(
                   "FRA", "3100", date(1970, 12, 24), 1), issuer="1500",
               valid_from=date(2010, 1, 1), valid_to=date(2020, 1, 1), card_version="17",
               photo=_noise("FRA", PHOTO_SIZE)),
        IdCard(type=CardType.FOREIGN_2023, name="贝示例", sex="1", renewal_count=0,
               birth=date(1990, 2, 14), name_en="SAMPLE-PERSON JONATHAN ALEXANDER BARTHOLOMEW",
               id_number=foreign_2023, issuer="国家移民管理局", valid_from=date(2023, 12, 1),
               valid_to=date(2033, 12, 1), nationality="USA", previous_ref="",
               photo=_noise(foreign_2023, PHOTO_SIZE),
               fingerprints=_noise("fp" + foreign_2023, FINGERPRINT_SIZE)),
    ]
