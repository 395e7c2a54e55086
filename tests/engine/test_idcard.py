"""The id-card check digit: the shortcut over bytes gives what GB 11643's definition gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renew_fsm.idcard import CHECK, WEIGHTS, check_digit, problem


def by_definition(first17: str) -> str:
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def test_the_standards_own_example() -> None:
    # GB 11643-1999's worked example ends in X.
    assert check_digit("11010519491231002") == "X"
    assert problem("11010519491231002X") is None


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_matches_the_definition(first17: str) -> None:
    assert check_digit(first17) == by_definition(first17)


@pytest.mark.parametrize("body", ["1101051949123100X", "１１０１０５１９４９１２３１００２", "1101051949 231002"])
def test_refuses_what_is_not_17_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError, match="17 digits"):
        check_digit(body)
