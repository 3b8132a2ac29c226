"""The oracle's own rules on worked examples (SPEC §1, §3, §6 and docs/decisions.md), so that a storm
failure points at the product, not at the oracle."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.storm import oracle
from tests.storm.scenario import PROGRAMME, T0, Line, OrderFact, Rates, RefundFact, Scenario, build

pytestmark = pytest.mark.storm


def _order(
    lines: list[int], refunds: list[tuple[int, tuple[tuple[str, int], ...] | None]], shipping: int = 0
) -> OrderFact:
    order_lines = tuple(Line(f"l{i}", "p0", 1, fen) for i, fen in enumerate(lines))
    total = sum(lines) + shipping
    return OrderFact(
        order_id="o1",
        buyer_id="c",
        lines=order_lines,
        shipping_fen=shipping,
        transaction_id="t1",
        paid_fen=total,
        paid_at=T0,
        refunds=tuple(
            RefundFact(f"r{i}", f"w{i}", amount, T0 + timedelta(hours=1), split)
            for i, (amount, split) in enumerate(refunds)
        ),
    )


RATES = Rates(level1_bp=1000, level2_bp=500, self_bp=0)


def _scenario(order: OrderFact, revoked: frozenset[str] = frozenset()) -> Scenario:
    programme = replace(PROGRAMME, rates=RATES, product_rates={})
    return Scenario(programme, ("a", "b", "c"), {"c": "b", "b": "a"}, revoked, (order,))


def test_largest_remainder_gives_the_spare_fen_to_the_largest_remainders_ties_to_the_earlier() -> None:
    assert oracle.largest_remainder(3, [1000, 3000, 3000]) == [1, 1, 1]  # quotas .43 1.29 1.29
    assert oracle.largest_remainder(4, [1000, 3000, 3000]) == [
        0,
        2,
        2,
    ]  # the Alabama paradox of D-refund-monotone
    assert oracle.largest_remainder(1, [5, 5]) == [1, 0]
    assert oracle.largest_remainder(7, [0, 0]) == [0, 0]
    assert oracle.largest_remainder(10, [1, 2, 3, 4]) == [1, 2, 3, 4]


def test_decisions_example_unsplit_refunds_of_3_and_4_fen() -> None:
    three = _order([1000, 3000, 3000], [(3, None)])
    four = _order([1000, 3000, 3000], [(1, None), (3, None)])  # several unsplit refunds = one of their sum
    assert oracle.refunded_per_line(three, three.refunds) == {"l0": 1, "l1": 1, "l2": 1}
    assert oracle.refunded_per_line(four, four.refunds) == {"l0": 0, "l1": 2, "l2": 2}
    assert oracle.order_commissions(_scenario(three), three)[("level1", "b")] == (700, 697)
    assert oracle.order_commissions(_scenario(four), four)[("level1", "b")] == (700, 698)


def test_splits_as_registered_short_and_over() -> None:
    exact = _order([1000, 500], [(300, (("l1", 300),))])
    short = _order([1000, 500], [(300, (("l1", 100),))])  # 200 more than the split: unsplit
    over = _order(
        [1000, 500],
        [
            (
                100,
                (("l0", 300), ("l1", 200)),
            )
        ],
    )  # scaled down to 100: 60 + 40
    assert oracle.refunded_per_line(exact, exact.refunds) == {"l0": 0, "l1": 300}
    # the 200 unsplit are spread over what the split left: 1000 and 400 -> 142.86, 57.14 -> 143, 57
    assert oracle.refunded_per_line(short, short.refunds) == {"l0": 143, "l1": 157}
    assert oracle.refunded_per_line(over, over.refunds) == {"l0": 60, "l1": 40}


def test_unsplit_beyond_the_lines_is_shipping_and_a_full_refund_reverses() -> None:
    full = _order([1000, 500], [(1000, None), (1100, None)], shipping=600)
    assert oracle.refunded_per_line(full, full.refunds) == {"l0": 1000, "l1": 500}
    assert oracle.order_commissions(_scenario(full), full) == {
        ("level1", "b"): (150, 0),
        ("level2", "a"): (75, 0),
    }
    assert oracle.order_growth(PROGRAMME, full) == 0


def test_refunds_at_or_after_the_effective_time_do_not_count_but_lower_growth() -> None:
    order = _order([10000], [])
    at = T0 + timedelta(days=PROGRAMME.freeze_days)
    late = replace(
        order,
        refunds=(
            RefundFact("r0", "w0", 4000, at, None),
            RefundFact("r1", "w1", 1000, at - timedelta(seconds=1), None),
        ),
    )
    assert oracle.order_commissions(_scenario(late), late)[("level1", "b")] == (1000, 900)
    assert oracle.order_growth(PROGRAMME, late) == 75  # (10000 - 5000) * 1.5 / 100


def test_revoked_members_and_amount_mismatch_earn_nothing() -> None:
    order = _order([10000], [])
    assert set(oracle.order_commissions(_scenario(order, revoked=frozenset({"b"})), order)) == {
        ("level2", "a")
    }
    mismatch = replace(order, paid_fen=9999)
    assert oracle.order_commissions(_scenario(mismatch), mismatch) == {}
    assert oracle.order_growth(PROGRAMME, mismatch) == 0


def test_growth_floors_the_exact_decimal_product() -> None:
    assert oracle.order_growth(PROGRAMME, _order([199], [])) == 2  # 2.985
    assert oracle.order_growth(replace(PROGRAMME, growth_coefficient="0.01"), _order([9999], [])) == 0


def test_a_scenario_holds_what_the_storm_needs() -> None:
    scenario = build(20261120, 400)
    expected = oracle.expected(scenario)
    orders = scenario.orders
    assert any(o.paid_fen != o.total_fen for o in orders)
    assert any(sum(r.amount_fen for r in o.refunds) == o.paid_fen for o in orders)  # full refunds
    assert any(r.split for o in orders for r in o.refunds)
    assert any(len(oracle.counted_refunds(PROGRAMME, o)) < len(o.refunds) for o in orders)  # late refunds
    assert scenario.revoked and all(r in scenario.members for r in scenario.revoked)
    assert sum(m.frozen_fen for m in expected.members.values()) > 0
    tiers = {tier for e in expected.orders.values() for tier, _ in e.commissions}
    assert tiers == {"self", "level1", "level2"}
