"""SPEC §1: commission on a line is floor(line_paid_fen * rate_bp / 10000), in integer fen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.money import BP_SCALE, commission_fen

pytestmark = pytest.mark.unit


def test_bp_scale_is_one_hundred_percent() -> None:
    assert BP_SCALE == 10000


@pytest.mark.parametrize(
    ("paid_fen", "rate_bp", "expected"),
    [
        (10000, 1000, 1000),  # 100.00 yuan at 10 % = 10.00 yuan
        (9999, 1000, 999),  # 9999 * 1000 / 10000 = 999.9 -> 999 (floor)
        (1, 9999, 0),  # 0.9999 -> 0
        (12345, 250, 308),  # 12345 * 250 / 10000 = 308.625 -> 308
        (5000, 10000, 5000),  # 100 % of 50.00 yuan
        (0, 1000, 0),
        (5000, 0, 0),
    ],
)
def test_commission_examples(paid_fen: int, rate_bp: int, expected: int) -> None:
    assert commission_fen(paid_fen, rate_bp) == expected


def test_commission_is_exact_for_large_amounts() -> None:
    # 10**15 fen at 3333 bp: float would lose the last digits; integer floor does not.
    assert commission_fen(10**15 + 7, 3333) == (10**15 + 7) * 3333 // 10000 == 333300000000002


@pytest.mark.parametrize(("paid_fen", "rate_bp"), [(-1, 100), (100, -1)])
def test_negative_inputs_are_programming_errors(paid_fen: int, rate_bp: int) -> None:
    with pytest.raises(ValueError):
        commission_fen(paid_fen, rate_bp)


@given(st.integers(0, 10**12), st.integers(0, BP_SCALE))
def test_commission_never_exceeds_rate_times_paid(paid_fen: int, rate_bp: int) -> None:
    fen = commission_fen(paid_fen, rate_bp)
    assert isinstance(fen, int)
    # commission <= paid * rate / 10000, and short of it by less than one fen
    assert fen * BP_SCALE <= paid_fen * rate_bp < (fen + 1) * BP_SCALE
    assert 0 <= fen <= paid_fen
