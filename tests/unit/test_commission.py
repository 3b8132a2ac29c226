"""SPEC §3: who earns what, rates per line with per-product overrides, recomputation after refunds during
the freeze, and the effective time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.commission import (
    CommissionPlan,
    LineRate,
    Rates,
    amount_after_refunds,
    counted_refunds,
    effective_at,
    plan_commissions,
    validate_rates,
)
from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.money import BP_SCALE
from fenxiao.domain.refunds import OrderLine, Refund, line_refunds

pytestmark = pytest.mark.unit

SHANGHAI = timezone(timedelta(hours=8))
PAID_AT = datetime(2026, 11, 25, 20, 0, tzinfo=SHANGHAI)
DEFAULTS = Rates(level1_bp=1000, level2_bp=500, self_bp=300)  # 10 %, 5 %, 3 %
SPECIAL = Rates(level1_bp=2000, level2_bp=0, self_bp=100)  # product override: 20 %, 0 %, 1 %

LINES = [
    OrderLine(line_id="L1", product_id="P-normal", quantity=2, paid_fen=12000),  # 120.00 yuan
    OrderLine(line_id="L2", product_id="P-special", quantity=1, paid_fen=3333),  # 33.33 yuan
]  # plus 10.00 yuan shipping, which is not a line and never earns


def plan(**overrides: object) -> list[CommissionPlan]:
    arguments: dict[str, object] = {
        "lines": LINES,
        "default_rates": DEFAULTS,
        "product_rates": {"P-special": SPECIAL},
        "buyer_id": "B",
        "buyer_is_distributor": True,
        "parent1": "P1",
        "parent1_is_distributor": True,
        "parent2": "P2",
        "parent2_is_distributor": True,
    }
    arguments.update(overrides)
    return plan_commissions(**arguments)  # type: ignore[arg-type]


def refund(amount_fen: int, when: datetime = PAID_AT, split: dict[str, int] | None = None) -> Refund:
    return Refund(out_refund_no=f"R{amount_fen}", amount_fen=amount_fen, success_time=when, split=split)


# --- worked example -----------------------------------------------------------------------------------


def test_worked_example_three_tiers_with_a_product_override() -> None:
    plans = {p.tier: p for p in plan()}
    # self (B): 12000 * 300 / 10000 = 360; 3333 * 100 / 10000 = 33.33 -> 33; total 393
    assert plans["self"].member_id == "B"
    assert plans["self"].amount_fen == 360 + 33 == 393
    # level1 (P1): 12000 * 1000 / 10000 = 1200; 3333 * 2000 / 10000 = 666.6 -> 666; total 1866
    assert plans["level1"].member_id == "P1"
    assert plans["level1"].amount_fen == 1200 + 666 == 1866
    # level2 (P2): 12000 * 500 / 10000 = 600; the override gives 3333 * 0 = 0; total 600
    assert plans["level2"].member_id == "P2"
    assert plans["level2"].amount_fen == 600
    assert plans["level1"].lines == (LineRate("L1", 12000, 1000), LineRate("L2", 3333, 2000))
    assert [p.tier for p in plan()] == ["self", "level1", "level2"]


def test_commission_is_floored_per_line_then_summed() -> None:
    # two lines of 15 fen at 10 %: 1.5 -> 1 per line, 2 in all (not floor(30 * 10 %) = 3)
    lines = [OrderLine("a", "P", 1, 15), OrderLine("b", "P", 1, 15)]
    (only,) = plan(lines=lines, product_rates={}, buyer_is_distributor=False, parent2=None)
    assert only.amount_fen == 2


def test_worked_example_unsplit_refund_during_the_freeze() -> None:
    plans = {p.tier: p for p in plan()}
    # an unsplit refund of 50.00 over lines 12000 and 3333 (15333):
    # quotas 5000 * 12000 / 15333 = 3913.13 and 5000 * 3333 / 15333 = 1086.87 -> 3913 + 1086 = 4999,
    # the spare fen to the larger remainder (0.87, L2): 3913 and 1087
    refunded = line_refunds(LINES, [refund(5000)])
    assert refunded == {"L1": 3913, "L2": 1087}
    # level1: floor(8087 * 10 %) = 808 and floor(2246 * 20 %) = 449.2 -> 449; 1257 instead of 1866
    assert amount_after_refunds(plans["level1"].lines, refunded) == 808 + 449 == 1257
    # a full refund (lines and shipping) reverses every commission
    full = line_refunds(LINES, [refund(12000 + 3333 + 1000)])
    assert all(amount_after_refunds(p.lines, full) == 0 for p in plans.values())


def test_worked_example_split_refund_hits_only_its_line() -> None:
    plans = {p.tier: p for p in plan()}
    # the whole of L2 is returned: level1 keeps 1200 from L1, loses the 666 from L2
    refunded = line_refunds(LINES, [refund(3333, split={"L2": 3333})])
    assert amount_after_refunds(plans["level1"].lines, refunded) == 1200
    # level2 earned nothing on L2, so it keeps all 600
    assert amount_after_refunds(plans["level2"].lines, refunded) == 600


# --- who earns ----------------------------------------------------------------------------------------


def test_non_distributors_earn_nothing() -> None:
    assert [p.tier for p in plan(buyer_is_distributor=False)] == ["level1", "level2"]
    assert [p.tier for p in plan(parent1_is_distributor=False)] == ["self", "level2"]
    assert [p.tier for p in plan(parent2_is_distributor=False)] == ["self", "level1"]


def test_missing_parents_earn_nothing() -> None:
    assert [p.tier for p in plan(parent1=None, parent2=None)] == ["self"]
    assert [p.tier for p in plan(parent2=None)] == ["self", "level1"]


def test_zero_amount_plans_are_omitted() -> None:
    zero_self = Rates(level1_bp=1000, level2_bp=500, self_bp=0)
    # the override replaces all three rates: P-special's self rate 100 still earns on L2 (33)
    plans = plan(default_rates=zero_self)
    assert {p.tier: p.amount_fen for p in plans} == {"self": 33, "level1": 1866, "level2": 600}
    # with no override, self earns 0 and the plan is left out
    assert [p.tier for p in plan(default_rates=zero_self, product_rates={})] == ["level1", "level2"]
    # 3 fen at 10 %: 0.3 -> 0
    tiny = [OrderLine("a", "P", 1, 3)]
    assert plan(lines=tiny, product_rates={}) == []


def test_override_replaces_all_three_rates() -> None:
    override = Rates(level1_bp=0, level2_bp=0, self_bp=0)
    lines = [OrderLine("a", "P-special", 1, 10000)]
    assert plan(lines=lines, product_rates={"P-special": override}) == []


@given(
    st.lists(st.integers(0, 10**7), min_size=1, max_size=6),
    st.integers(0, BP_SCALE),
    st.integers(0, BP_SCALE),
    st.integers(0, BP_SCALE),
)
def test_commission_never_exceeds_rate_times_paid(paid: list[int], l1: int, l2: int, own: int) -> None:
    lines = [OrderLine(f"L{i}", "P", 1, fen) for i, fen in enumerate(paid)]
    rates = Rates(level1_bp=l1, level2_bp=l2, self_bp=own)
    by_tier = {"self": own, "level1": l1, "level2": l2}
    for p in plan(lines=lines, default_rates=rates, product_rates={}):
        assert p.amount_fen > 0
        assert p.amount_fen * BP_SCALE <= sum(paid) * by_tier[p.tier]
        assert p.amount_fen == amount_after_refunds(p.lines, {})


# --- refunds never (really) raise a commission --------------------------------------------------------


Case = tuple[list[LineRate], list[OrderLine], list[Refund], list[Refund]]


@st.composite
def orders_and_refunds(draw: st.DrawFn, max_lines: int = 5) -> Case:
    count = draw(st.integers(1, max_lines))
    lines = [OrderLine(f"L{i}", "P", 1, draw(st.integers(0, 20000))) for i in range(count)]
    rated = [LineRate(line.line_id, line.paid_fen, draw(st.integers(0, BP_SCALE))) for line in lines]

    def some_refunds() -> list[Refund]:
        result = []
        for _ in range(draw(st.integers(0, 4))):
            split = None
            if draw(st.booleans()):
                split = {draw(st.sampled_from([line.line_id for line in lines])): draw(st.integers(0, 20000))}
            result.append(refund(draw(st.integers(0, 20000)), split=split))
        return result

    return rated, lines, some_refunds(), some_refunds()


@given(orders_and_refunds(max_lines=1))
def test_more_refunds_never_raise_a_single_line_commission(
    case: tuple[list[LineRate], list[OrderLine], list[Refund], list[Refund]],
) -> None:
    rated, lines, before, more = case
    fewer = amount_after_refunds(rated, line_refunds(lines, before))
    after = amount_after_refunds(rated, line_refunds(lines, [*before, *more]))
    assert after <= fewer


@given(orders_and_refunds())
def test_more_refunds_raise_a_commission_by_rounding_fen_at_most(
    case: tuple[list[LineRate], list[OrderLine], list[Refund], list[Refund]],
) -> None:
    # D-refund-monotone: largest remainder moves at most one fen per line, so at most (lines - 1) fen
    rated, lines, before, more = case
    fewer = amount_after_refunds(rated, line_refunds(lines, before))
    after = amount_after_refunds(rated, line_refunds(lines, [*before, *more]))
    assert after <= fewer + len(lines) - 1


def test_largest_remainder_paradox_can_raise_a_commission_by_one_fen() -> None:
    # D-refund-monotone, the documented exception: lines 1000, 3000, 3000 at 10 %.
    # unsplit 3 fen: quotas 0.43, 1.29, 1.29 -> [0, 1, 1] + the spare fen to L0 -> [1, 1, 1]
    # unsplit 4 fen: quotas 0.57, 1.71, 1.71 -> [0, 1, 1] + 2 spare fen to L1, L2 -> [0, 2, 2]
    lines = [OrderLine(f"L{i}", "P", 1, fen) for i, fen in enumerate([1000, 3000, 3000])]
    rated = [LineRate(line.line_id, line.paid_fen, 1000) for line in lines]
    three = line_refunds(lines, [refund(3)])
    four = line_refunds(lines, [refund(3), refund(1)])
    assert list(three.values()) == [1, 1, 1]
    assert list(four.values()) == [0, 2, 2]
    # 99 + 299 + 299 = 697, then 100 + 299 + 299 = 698
    assert amount_after_refunds(rated, three) == 697
    assert amount_after_refunds(rated, four) == 698


def test_refunds_beyond_a_line_never_make_a_negative_base() -> None:
    rated = [LineRate("a", 1000, 1000)]
    assert amount_after_refunds(rated, {"a": 5000}) == 0
    assert amount_after_refunds(rated, {"a": -5}) == 100  # nonsense refunds count as none


# --- effective time and the refunds that count --------------------------------------------------------


def test_effective_at_payment_basis() -> None:
    assert effective_at("payment", 7, PAID_AT, None) == PAID_AT + timedelta(days=7)
    assert effective_at("payment", 0, PAID_AT, None) == PAID_AT


def test_effective_at_completion_basis() -> None:
    completed = PAID_AT + timedelta(days=3, hours=5)
    assert effective_at("completion", 0, PAID_AT, None) is None
    assert effective_at("completion", 15, PAID_AT, completed) == completed + timedelta(days=15)
    assert effective_at("completion", 0, PAID_AT, completed) == completed


def test_effective_at_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        effective_at("payment", -1, PAID_AT, None)
    with pytest.raises(ValueError):
        effective_at("payment", 1, PAID_AT.replace(tzinfo=None), None)


def test_counted_refunds_are_strictly_before_the_effective_time() -> None:
    effective = PAID_AT + timedelta(days=7)
    early = refund(100, when=effective - timedelta(microseconds=1))
    on_time = refund(200, when=effective)
    late = refund(300, when=effective + timedelta(days=1))
    assert counted_refunds([early, on_time, late], effective) == [early]
    # completion basis before completion: every refund so far counts
    assert counted_refunds([early, on_time, late], None) == [early, on_time, late]


def test_counted_refunds_compare_instants_across_offsets() -> None:
    effective = datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)  # = 2026-11-30 16:00 UTC
    before = refund(100, when=datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC))
    at = refund(200, when=datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert counted_refunds([before, at], effective) == [before]


# --- rates --------------------------------------------------------------------------------------------


def test_validate_rates() -> None:
    validate_rates(Rates(0, 10000, 5000))
    with pytest.raises(InvalidInput) as raised:
        validate_rates(Rates(1000, 10001, 0))
    assert raised.value.field == "rates.level2_bp"
    with pytest.raises(InvalidInput) as raised:
        validate_rates(Rates(1000, 0, -1), field="product.rates")
    assert raised.value.field == "product.rates.self_bp"
