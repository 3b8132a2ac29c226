"""SPEC §6: growth value from orders (exact decimal coefficient) and membership levels."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.growth import Level, level_for, order_growth, parse_coefficient, validate_levels

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ["1", "1.5", "0.01", "100", "0", "1000", "0.0001", "999.9999", "12.50"])
def test_parse_good_coefficients(text: str) -> None:
    assert parse_coefficient(text) == Decimal(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "-1",
        "+1",
        "1.",
        ".5",
        "1e2",
        "1E2",
        "0.00001",
        "1000.0001",
        "1001",
        "01",
        "NaN",
        "Infinity",
        "1,5",
        "１",
    ],
)
def test_parse_bad_coefficients(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_coefficient(text)
    assert raised.value.field == "growth_coefficient"


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidInput):
        parse_coefficient(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("paid_fen", "refunded_fen", "coefficient", "expected"),
    [
        (12345, 0, "1", 123),  # 12345 * 1 / 100 = 123.45 -> 123: one point per whole yuan
        (12345, 0, "1.5", 185),  # 12345 * 1.5 / 100 = 185.175 -> 185
        (12345, 0, "0.01", 1),  # 12345 * 0.01 / 100 = 1.2345 -> 1
        (12345, 0, "100", 12345),  # 12345 * 100 / 100 = 12345: one point per fen
        (99, 0, "1", 0),  # 0.99 yuan -> 0 points
        (12345, 2345, "1.5", 150),  # (12345 - 2345) * 1.5 / 100 = 150
        (12345, 12345, "1.5", 0),  # fully refunded
        (12345, 20000, "1.5", 0),  # never below 0
        (10, 0, "0.1", 0),  # 10 * 0.1 / 100 = 0.01 -> 0
        (1000, 0, "0.3333", 3),  # 1000 * 0.3333 / 100 = 3.333 -> 3
        (300, 0, "33.3333", 99),  # 300 * 33.3333 / 100 = 99.9999 -> 99: a float might round this to 100
    ],
)
def test_order_growth_examples(paid_fen: int, refunded_fen: int, coefficient: str, expected: int) -> None:
    assert order_growth(paid_fen, refunded_fen, parse_coefficient(coefficient)) == expected


def test_order_growth_is_exact_for_large_amounts() -> None:
    # (10**30 + 1) * 999.9999 has 34 digits: Decimal's default 28-digit context would round it, the exact
    # integer ratio does not
    paid = 10**30 + 1
    assert order_growth(paid, 0, Decimal("999.9999")) == paid * 9999999 // (10000 * 100)


@given(
    st.integers(0, 10**10),
    st.integers(0, 10**10),
    st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
)
def test_order_growth_matches_exact_fraction_and_refunds_only_lower_it(
    paid_fen: int, refunded_fen: int, coefficient: Decimal
) -> None:
    growth = order_growth(paid_fen, refunded_fen, coefficient)
    net = max(paid_fen - refunded_fen, 0)
    numerator, denominator = coefficient.as_integer_ratio()
    assert growth * denominator * 100 <= net * numerator < (growth + 1) * denominator * 100
    assert 0 <= growth <= order_growth(paid_fen, 0, coefficient)


# --- levels -------------------------------------------------------------------------------------------

LEVELS = [
    Level(level=1, name="银卡", growth_required=0, discount_bp=10000),
    Level(level=2, name="金卡", growth_required=500, discount_bp=9800),
    Level(level=3, name="铂金", growth_required=2000, discount_bp=9500),
]


@pytest.mark.parametrize(
    ("growth", "expected"),
    [(0, 1), (499, 1), (500, 2), (1999, 2), (2000, 3), (10**9, 3)],
)
def test_level_for(growth: int, expected: int) -> None:
    found = level_for(growth, LEVELS)
    assert found is not None
    assert found.level == expected


def test_no_level_below_the_first_or_without_levels() -> None:
    assert level_for(99, [Level(1, "会员", 100, 9900)]) is None
    assert level_for(10**6, []) is None


def test_validate_levels_accepts_good_levels_and_none() -> None:
    validate_levels(LEVELS)
    validate_levels([])
    validate_levels([Level(n, f"L{n}", n * 100, 10000 - n) for n in range(1, 6)])


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        ([Level(n, f"L{n}", n * 100, 9000) for n in range(1, 7)], "levels"),
        ([*LEVELS[:2], Level(3, "铂金", 500, 9500)], "levels[2].growth_required"),
        ([*LEVELS[:2], Level(3, "铂金", 499, 9500)], "levels[2].growth_required"),
        ([Level(1, "a", -1, 9000)], "levels[0].growth_required"),
        ([Level(0, "a", 0, 9000)], "levels[0].level"),
        ([Level(6, "a", 0, 9000)], "levels[0].level"),
        ([LEVELS[0], Level(1, "again", 600, 9000)], "levels[1].level"),
        ([Level(1, " ", 0, 9000)], "levels[0].name"),
        ([Level(1, "a", 0, 0)], "levels[0].discount_bp"),
        ([Level(1, "a", 0, 10001)], "levels[0].discount_bp"),
    ],
)
def test_validate_levels_names_the_bad_field(levels: list[Level], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_levels(levels)
    assert raised.value.field == field
