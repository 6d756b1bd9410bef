import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import idnumber


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "11010519491231002x"])
def test_published_examples_are_valid(number: str) -> None:
    assert idnumber.is_valid(number)
    assert idnumber.normalise(number) == number.upper()


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("110105194912310021", "check character does not match"),
        ("11010519491231002", "17 digits and a check character"),
        ("1101051949123100AX", "17 digits and a check character"),
    ],
)
def test_bad_numbers_say_why(number: str, why: str) -> None:
    assert not idnumber.is_valid(number)
    with pytest.raises(idnumber.InvalidIdNumber, match=why):
        idnumber.normalise(number)


def test_legacy_15_digit_number_gains_century_and_check() -> None:
    widened = idnumber.normalise("110105491231002")
    assert widened[:17] == "11010519491231002"
    assert idnumber.is_valid(widened)


def test_mask_keeps_only_ends() -> None:
    assert idnumber.mask("11010519491231002X") == "110***********002X"
    assert idnumber.mask("12345") == "*****"


def test_pseudonym_is_keyed_and_stable() -> None:
    a = idnumber.pseudonym(b"k1", "11010519491231002x")
    assert a == idnumber.pseudonym(b"k1", "11010519491231002X")
    assert a != idnumber.pseudonym(b"k2", "11010519491231002X")
    assert len(a) == 64


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_every_17_digits_get_a_check_that_validates(first17: str) -> None:
    assert idnumber.is_valid(first17 + idnumber.check_character(first17))
