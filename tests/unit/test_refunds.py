"""SPEC §3: line refunds are derived from the whole set of refunds (splits, then the unsplit pool spread by
largest remainder, the excess being shipping), and decision D-refund-split for splits that disagree with
WeChat Pay's amount."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.errors import InvalidInput, RuleViolation
from fenxiao.domain.refunds import (
    OrderLine,
    Refund,
    apportion,
    line_refunds,
    parse_split,
    refund_allocation,
    validate_lines,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def refund(amount_fen: int, split: Mapping[str, int] | None = None, no: str = "r") -> Refund:
    return Refund(out_refund_no=no, amount_fen=amount_fen, success_time=T0, split=split)


def order(*paid: int) -> list[OrderLine]:
    return [
        OrderLine(line_id=f"L{i}", product_id=f"P{i}", quantity=1, paid_fen=fen) for i, fen in enumerate(paid)
    ]


# --- worked examples ---------------------------------------------------------------------------------


def test_no_refunds_refund_nothing() -> None:
    allocation = refund_allocation(order(6000, 4000), [])
    assert allocation.per_line == {"L0": 0, "L1": 0}
    assert allocation.shipping_fen == 0


def test_unsplit_refund_is_spread_in_proportion() -> None:
    # lines 60.00 + 40.00 yuan, one unsplit refund of 50.00:
    # 5000 * 6000/10000 = 3000 and 5000 * 4000/10000 = 2000
    assert line_refunds(order(6000, 4000), [refund(5000)]) == {"L0": 3000, "L1": 2000}


def test_largest_remainder_rounding() -> None:
    # lines 1000, 1000, 1000, refund 200: quotas 66.67 each -> floors 66, 66, 66 (198),
    # 2 fen left, remainders equal -> ties go to the earlier lines: 67, 67, 66
    assert line_refunds(order(1000, 1000, 1000), [refund(200)]) == {"L0": 67, "L1": 67, "L2": 66}


def test_largest_remainder_prefers_larger_fraction_over_position() -> None:
    # lines 100, 300, refund 3: quotas 0.75 and 2.25 -> floors 0 and 2, 1 fen left,
    # remainders 0.75 > 0.25 -> the first line: [1, 2]
    assert line_refunds(order(100, 300), [refund(3)]) == {"L0": 1, "L1": 2}
    # lines 300, 100: quotas 2.25, 0.75 -> the spare fen to the second line (larger remainder): [2, 1]
    assert line_refunds(order(300, 100), [refund(3)]) == {"L0": 2, "L1": 1}


def test_split_goes_to_named_lines_and_unsplit_spreads_over_what_is_left() -> None:
    # lines 60.00 + 40.00; a split refund takes 40.00 from L0 -> left: 2000 and 4000;
    # an unsplit refund of 30.00 spreads 3000 * 2000/6000 = 1000 and 3000 * 4000/6000 = 2000
    refunds = [refund(4000, {"L0": 4000}, "a"), refund(3000, None, "b")]
    assert line_refunds(order(6000, 4000), refunds) == {"L0": 5000, "L1": 2000}


def test_excess_beyond_all_lines_is_shipping() -> None:
    # lines 60.00 + 40.00, shipping 10.00: a full refund of 110.00 takes every line and 10.00 of shipping
    allocation = refund_allocation(order(6000, 4000), [refund(11000)])
    assert allocation.per_line == {"L0": 6000, "L1": 4000}
    assert allocation.shipping_fen == 1000
    assert allocation.refunded_fen == 11000


def test_several_unsplit_partials_equal_one_refund_of_their_sum() -> None:
    # 3 fen refunded three times on lines 1, 1, 1 fen: refund by refund would give each refund's fen to L0
    # first; the pool of 3 gives one fen to each line
    lines = order(1, 1, 1)
    assert line_refunds(lines, [refund(1), refund(1), refund(1)]) == {"L0": 1, "L1": 1, "L2": 1}
    assert line_refunds(lines, [refund(3)]) == {"L0": 1, "L1": 1, "L2": 1}


def test_split_beyond_a_line_is_capped_and_carried_nowhere() -> None:
    # L0 paid 30.00, the split claims 50.00 of it: L0 gives 30.00, the other 20.00 is not moved to L1
    allocation = refund_allocation(order(3000, 4000), [refund(5000, {"L0": 5000})])
    assert allocation.per_line == {"L0": 3000, "L1": 0}
    assert allocation.shipping_fen == 2000


def test_two_splits_on_one_line_are_capped_together() -> None:
    allocation = refund_allocation(
        order(3000, 4000), [refund(2000, {"L0": 2000}, "a"), refund(2000, {"L0": 2000}, "b")]
    )
    assert allocation.per_line == {"L0": 3000, "L1": 0}
    assert allocation.shipping_fen == 1000


def test_split_for_an_unknown_line_counts_as_shipping() -> None:
    allocation = refund_allocation(order(3000), [refund(500, {"nope": 500})])
    assert allocation.per_line == {"L0": 0}
    assert allocation.shipping_fen == 500


def test_split_smaller_than_amount_leaves_the_rest_unsplit() -> None:
    # D-refund-split: WeChat refunded 50.00, the split names 20.00 of L0; the other 30.00 is unsplit and
    # spreads over what is left: L0 4000, L1 4000 -> 1500 each
    assert line_refunds(order(6000, 4000), [refund(5000, {"L0": 2000})]) == {"L0": 3500, "L1": 1500}


def test_split_larger_than_amount_is_scaled_down_to_it() -> None:
    # D-refund-split: the split names 30.00 + 10.00 but WeChat refunded 20.00:
    # 2000 * 3000/4000 = 1500 and 2000 * 1000/4000 = 500
    assert line_refunds(order(6000, 4000), [refund(2000, {"L0": 3000, "L1": 1000})]) == {
        "L0": 1500,
        "L1": 500,
    }


def test_scaled_down_split_breaks_ties_by_line_order_not_by_split_order() -> None:
    # split lists L1 first; 1 fen over two equal claims: the tie goes to L0, the earlier line of the order
    assert line_refunds(order(100, 100), [refund(1, {"L1": 5, "L0": 5})]) == {"L0": 1, "L1": 0}


def test_full_refund_of_a_line_with_zero_paid_line() -> None:
    # a free gift line (0 fen) never takes any refund
    assert line_refunds(order(0, 500), [refund(300)]) == {"L0": 0, "L1": 300}


# --- apportion ----------------------------------------------------------------------------------------


def test_apportion_examples() -> None:
    # 5 over 2, 2, 2: quotas 1.67 each -> 1, 1, 1 and 2 spare fen to the earlier lines
    assert apportion(5, [2, 2, 2]) == [2, 2, 1]
    assert apportion(0, [5, 5]) == [0, 0]
    assert apportion(0, []) == []
    assert apportion(7, [7, 0]) == [7, 0]


@pytest.mark.parametrize(("total", "weights"), [(-1, [1]), (3, [1, 1]), (1, [2, -1])])
def test_apportion_rejects_impossible_requests(total: int, weights: list[int]) -> None:
    with pytest.raises(ValueError):
        apportion(total, weights)


@given(
    st.lists(st.integers(0, 10**6), max_size=8).flatmap(
        lambda w: st.tuples(st.just(w), st.integers(0, sum(w)))
    )
)
def test_apportion_adds_up_and_stays_within_weights(case: tuple[list[int], int]) -> None:
    weights, total = case
    shares = apportion(total, weights)
    assert sum(shares) == total
    weight_sum = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert 0 <= share <= weight
        if weight_sum:
            # each share is its quota rounded down or up
            assert share * weight_sum - total * weight in range(-weight_sum + 1, weight_sum)


@given(st.integers(1, 10**6), st.integers(2, 8), st.data())
def test_apportion_ties_go_to_the_earlier_line(weight: int, count: int, data: st.DataObject) -> None:
    total = data.draw(st.integers(0, weight * count))
    shares = apportion(total, [weight] * count)
    # equal weights: equal remainders, so the spare fen go to a prefix of the lines
    assert shares == sorted(shares, reverse=True)
    assert max(shares) - min(shares) <= 1


# --- properties ---------------------------------------------------------------------------------------


@st.composite
def orders(draw: st.DrawFn) -> list[OrderLine]:
    paid = draw(st.lists(st.integers(0, 20000), min_size=1, max_size=5))
    return order(*paid)


@st.composite
def refund_sets(
    draw: st.DrawFn, lines: Sequence[OrderLine], unsplit_only: bool = False, exact_splits: bool = False
) -> list[Refund]:
    """Refunds with and without splits; splits may name unknown lines, overclaim a line, or disagree with
    the amount, unless ``exact_splits`` (then the amount is the split's sum)."""
    ids = [line.line_id for line in lines] + ["unknown"]
    result = []
    for index in range(draw(st.integers(0, 6))):
        amount = draw(st.integers(0, 15000))
        split = None
        if not unsplit_only and draw(st.booleans()):
            named = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
            split = {line_id: draw(st.integers(0, 15000)) for line_id in named}
            if exact_splits:
                amount = sum(split.values())
        when = T0 + timedelta(minutes=draw(st.integers(0, 10**5)))
        result.append(Refund(out_refund_no=f"R{index}", amount_fen=amount, success_time=when, split=split))
    return result


@given(st.data())
def test_every_permutation_gives_the_same_line_refunds(data: st.DataObject) -> None:
    lines = data.draw(orders())
    refunds = data.draw(refund_sets(lines))
    shuffled = data.draw(st.permutations(refunds))
    assert refund_allocation(lines, shuffled) == refund_allocation(lines, refunds)


@given(st.data())
def test_several_unsplit_refunds_equal_one_of_their_sum(data: st.DataObject) -> None:
    lines = data.draw(orders())
    refunds = data.draw(refund_sets(lines))
    unsplit = [r for r in refunds if r.split is None]
    split = [r for r in refunds if r.split is not None]
    merged = [*split, refund(sum(r.amount_fen for r in unsplit), None, "sum")]
    assert refund_allocation(lines, refunds) == refund_allocation(lines, merged)


@given(st.data())
def test_attributions_add_up_and_no_line_goes_below_zero(data: st.DataObject) -> None:
    lines = data.draw(orders())
    refunds = data.draw(refund_sets(lines, exact_splits=True))
    unsplit_sum = sum(r.amount_fen for r in refunds if r.split is None)
    by_splits = line_refunds(lines, [r for r in refunds if r.split is not None])
    left = {line.line_id: line.paid_fen - by_splits[line.line_id] for line in lines}

    allocation = refund_allocation(lines, refunds)
    attributed = {line_id: fen - by_splits[line_id] for line_id, fen in allocation.per_line.items()}
    assert sum(attributed.values()) == min(unsplit_sum, sum(left.values()))
    for line in lines:
        assert 0 <= attributed[line.line_id] <= left[line.line_id]
        assert 0 <= allocation.per_line[line.line_id] <= line.paid_fen
    assert allocation.shipping_fen >= 0
    assert allocation.refunded_fen == sum(r.amount_fen for r in refunds)


@given(st.data())
def test_split_short_of_its_amount_is_split_plus_an_unsplit_rest(data: st.DataObject) -> None:
    # D-refund-split: a split refund of 50 naming 20 == a split refund of 20 plus an unsplit refund of 30
    lines = data.draw(orders())
    others = data.draw(refund_sets(lines))
    split = {lines[0].line_id: data.draw(st.integers(0, 15000))}
    rest = data.draw(st.integers(0, 15000))
    short = refund(sum(split.values()) + rest, split, "short")
    decomposed = [refund(sum(split.values()), split, "split"), refund(rest, None, "rest")]
    assert refund_allocation(lines, [*others, short]) == refund_allocation(lines, [*others, *decomposed])


@given(st.data())
def test_split_over_its_amount_never_takes_back_more_than_was_refunded(data: st.DataObject) -> None:
    lines = data.draw(orders())
    named = data.draw(st.lists(st.sampled_from([line.line_id for line in lines]), min_size=1, unique=True))
    split = {line_id: data.draw(st.integers(1, 15000)) for line_id in named}
    amount = data.draw(st.integers(0, sum(split.values()) - 1))
    allocation = refund_allocation(lines, [refund(amount, split)])
    assert allocation.refunded_fen == amount
    for line in lines:
        assert allocation.per_line[line.line_id] <= min(split.get(line.line_id, 0), line.paid_fen)


@given(st.data())
def test_unsplit_pool_adds_up_to_min_of_sum_and_paid(data: st.DataObject) -> None:
    lines = data.draw(orders())
    refunds = data.draw(refund_sets(lines, unsplit_only=True))
    per_line = line_refunds(lines, refunds)
    paid = sum(line.paid_fen for line in lines)
    assert sum(per_line.values()) == min(sum(r.amount_fen for r in refunds), paid)


@given(st.data())
def test_more_refunds_lower_no_line_by_more_than_a_rounding_fen(data: st.DataObject) -> None:
    # D-refund-monotone: largest remainder may move one fen between lines, never more, and the total
    # refunded on lines never goes down
    lines = data.draw(orders())
    before = data.draw(refund_sets(lines))
    more = data.draw(refund_sets(lines))
    fewer = line_refunds(lines, before)
    after = line_refunds(lines, [*before, *more])
    assert sum(after.values()) >= sum(fewer.values())
    for line_id, fen in fewer.items():
        assert after[line_id] >= fen - 1


# --- registration checks ------------------------------------------------------------------------------


def test_parse_split_accepts_a_valid_split() -> None:
    assert parse_split(order(3000, 4000), [("L1", 4000), ("L0", 1)]) == {"L1": 4000, "L0": 1}


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([], "lines"),
        ([("L9", 100)], "lines[0].line_id"),
        ([("L0", 100), ("L0", 100)], "lines"),
        ([("L0", 0)], "lines[0].refund_fen"),
    ],
)
def test_parse_split_names_the_bad_entry(entries: list[tuple[str, int]], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_split(order(3000, 4000), entries)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("earlier", "entries", "field"),
    [
        ([], [("L1", 4001)], "lines[0].refund_fen"),
        # 700 unsplit took 300 of L0 and 400 of L1: L1 has 3600 left, L0 2700.
        ([refund(700)], [("L0", 2700), ("L1", 3601)], "lines[1].refund_fen"),
        ([refund(1000, {"L1": 1000})], [("L1", 3001)], "lines[0].refund_fen"),
    ],
)
def test_parse_split_caps_each_line_at_what_it_has_left(
    earlier: list[Refund], entries: list[tuple[str, int]], field: str
) -> None:
    """SPEC §3, refunds together never exceed what was paid: a split is capped at what its line has left after
    the refunds WeChat Pay already reported, not at what the line was paid (422 refund_exceeds_line)."""
    with pytest.raises(RuleViolation) as raised:
        parse_split(order(3000, 4000), entries, earlier)
    assert (raised.value.code, raised.value.field) == ("refund_exceeds_line", field)
    assert parse_split(order(3000, 4000), [("L1", 3000)], [refund(1000, {"L1": 1000})]) == {"L1": 3000}


def test_validate_lines_accepts_total_of_lines_plus_shipping() -> None:
    validate_lines(order(3000, 4000), shipping_fen=800, total_fen=7800)


@pytest.mark.parametrize(
    ("lines", "shipping_fen", "total_fen", "field"),
    [
        ([], 0, 0, "lines"),
        (order(100, 100)[:1] * 2, 0, 200, "lines"),
        ([OrderLine("", "P", 1, 100)], 0, 100, "lines[0].line_id"),
        ([OrderLine("L", "", 1, 100)], 0, 100, "lines[0].product_id"),
        ([OrderLine("L", "P", 0, 100)], 0, 100, "lines[0].quantity"),
        ([OrderLine("L", "P", 1, -1)], 0, -1, "lines[0].paid_fen"),
        (order(100), -1, 99, "shipping_fen"),
        (order(100), 10, 100, "total_fen"),
    ],
)
def test_validate_lines_names_the_bad_field(
    lines: list[OrderLine], shipping_fen: int, total_fen: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_lines(lines, shipping_fen, total_fen)
    assert raised.value.field == field
