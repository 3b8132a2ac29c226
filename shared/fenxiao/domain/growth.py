"""Growth value and membership levels (SPEC §6, 会员等级体系)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.money import BP_SCALE

MAX_LEVELS = 5
MAX_COEFFICIENT = Decimal(1000)
# A plain decimal: no sign, no exponent, no leading zeros, at most 4 decimals ("1", "1.5", "0.01", "100").
_COEFFICIENT = re.compile(r"(0|[1-9][0-9]{0,3})(\.[0-9]{1,4})?")


def parse_coefficient(text: str) -> Decimal:
    """The shop's ``growth_coefficient`` as an exact ``Decimal``: a decimal string from 0 to 1000 with at most
    4 decimals. Anything else (floats, signs, exponents, "1.", ".5") raises ``InvalidInput`` on
    ``growth_coefficient``."""
    if not isinstance(text, str) or not _COEFFICIENT.fullmatch(text):
        raise InvalidInput(
            'growth_coefficient must be a decimal string such as "1.5" (at most 4 decimals)',
            field="growth_coefficient",
        )
    coefficient = Decimal(text)
    if coefficient > MAX_COEFFICIENT:
        raise InvalidInput(
            f"growth_coefficient must be at most {MAX_COEFFICIENT}", field="growth_coefficient"
        )
    return coefficient


def order_growth(paid_fen: int, refunded_fen: int, coefficient: Decimal) -> int:
    """An order's growth: ``floor((paid_fen - refunded_fen) * coefficient / 100)``, never below 0.

    Rounding rule: floor, computed exactly on the coefficient's integer ratio (no float, no Decimal
    context precision), so coefficient 1 gives one point per whole yuan. Refunds beyond what was paid
    give 0, not a negative amount.
    """
    if not coefficient.is_finite() or coefficient < 0:
        raise ValueError("coefficient must be a finite non-negative Decimal")
    net_fen = max(paid_fen - refunded_fen, 0)
    numerator, denominator = coefficient.as_integer_ratio()
    return net_fen * numerator // (denominator * 100)


@dataclass(frozen=True)
class Level:
    """A membership level: reached at ``growth_required``, priced at ``discount_bp`` (9500 = 95 %)."""

    level: int
    name: str
    growth_required: int
    discount_bp: int


def level_for(growth: int, levels: Sequence[Level]) -> Level | None:
    """The highest level whose ``growth_required`` is at most ``growth``; None below every level or with
    no levels defined."""
    reached = [level for level in levels if level.growth_required <= growth]
    return max(reached, key=lambda level: level.growth_required, default=None)


def validate_levels(levels: Sequence[Level]) -> None:
    """A shop's levels: at most 5; level numbers 1..5, each once; a non-empty name; ``growth_required``
    non-negative and strictly increasing in list order; ``discount_bp`` 1..10000. Raises ``InvalidInput``
    naming the entry, e.g. ``levels[2].growth_required``. An empty list (no levels) is valid."""
    if len(levels) > MAX_LEVELS:
        raise InvalidInput(f"at most {MAX_LEVELS} levels", field="levels")
    seen: set[int] = set()
    for index, level in enumerate(levels):
        field = f"levels[{index}]"
        if not 1 <= level.level <= MAX_LEVELS:
            raise InvalidInput(f"level must be between 1 and {MAX_LEVELS}", field=f"{field}.level")
        if level.level in seen:
            raise InvalidInput(f"level {level.level} defined twice", field=f"{field}.level")
        seen.add(level.level)
        if not level.name.strip():
            raise InvalidInput("name must not be empty", field=f"{field}.name")
        if level.growth_required < 0:
            raise InvalidInput("growth_required must not be negative", field=f"{field}.growth_required")
        if index and level.growth_required <= levels[index - 1].growth_required:
            raise InvalidInput(
                "growth_required must be strictly greater than the previous level's",
                field=f"{field}.growth_required",
            )
        if not 1 <= level.discount_bp <= BP_SCALE:
            raise InvalidInput(f"discount_bp must be between 1 and {BP_SCALE}", field=f"{field}.discount_bp")
