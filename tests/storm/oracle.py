"""What the storm's facts must give, computed from the SPEC alone (§1–§3, §6 growth, and the refund-split
entries of docs/decisions.md) — independently of the product: nothing here imports ``fenxiao``.

Per order: rates at payment (the product's own rates, else the shop's defaults), the buyer's chain fixed
before the storm, distributors = everyone except the members the shop revoked (eligibility ``none``);
each tier's commission is ``floor(line_paid * rate / 10000)`` per line, summed, after taking off each
line's refunded amount derived from the refunds that succeeded before the effective time (payment +
freeze days). Growth: ``floor((paid - refunded) * coefficient / 100)`` over all refunds. An order whose
paid amount differs from its total earns nothing at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction

from tests.storm.scenario import OrderFact, Programme, Rates, RefundFact, Scenario

TIERS = ("self", "level1", "level2")


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (Hamilton's method): each share is the floor of its
    exact quota, and the fen left over go one each to the largest fractional parts, ties to the earlier
    position. The shares add up to ``total``; no share exceeds its quota rounded up."""
    whole = sum(weights)
    if whole == 0 or total == 0:
        return [0] * len(weights)
    quotas = [Fraction(total * w, whole) for w in weights]
    shares = [q.numerator // q.denominator for q in quotas]
    spare = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[:spare]:
        shares[i] += 1
    return shares


def refunded_per_line(order: OrderFact, refunds: Sequence[RefundFact]) -> dict[str, int]:
    """Each line's refunded fen from a set of refunds, taken as a whole (SPEC §3, D-refund-split).

    A split adding up to the refund goes to its lines; one adding up to less goes to its lines and the
    rest joins the unsplit pool; one adding up to more is scaled down to the refund by largest remainder.
    Splits are capped at each line's paid amount. The pool (unsplit refunds and split rests) is spread
    over what the splits left of each line, by largest remainder, never beyond a line; the excess is
    shipping.
    """
    position = {line.line_id: i for i, line in enumerate(order.lines)}
    split_total: dict[str, int] = defaultdict(int)
    pool = 0
    for refund in refunds:
        if refund.split is None:
            pool += refund.amount_fen
            continue
        named = sorted(
            ((lid, fen) for lid, fen in refund.split if lid in position), key=lambda p: position[p[0]]
        )
        named_sum = sum(fen for _, fen in named)
        if named_sum <= refund.amount_fen:
            shares = [fen for _, fen in named]
            pool += refund.amount_fen - named_sum
        else:
            shares = largest_remainder(refund.amount_fen, [fen for _, fen in named])
        for (line_id, _), share in zip(named, shares, strict=True):
            split_total[line_id] += share
    left = []
    for line in order.lines:
        split_total[line.line_id] = min(split_total[line.line_id], line.paid_fen)
        left.append(line.paid_fen - split_total[line.line_id])
    spread = left if pool >= sum(left) else largest_remainder(pool, left)
    return {
        line.line_id: split_total[line.line_id] + extra
        for line, extra in zip(order.lines, spread, strict=True)
    }


def _rate(rates: Rates, tier: str) -> int:
    return {"self": rates.self_bp, "level1": rates.level1_bp, "level2": rates.level2_bp}[tier]


def beneficiaries(scenario: Scenario, buyer_id: str) -> dict[str, str]:
    """Tier -> member for an order of ``buyer_id``: only distributors earn (everyone but the revoked)."""
    parent1 = scenario.inviters.get(buyer_id)
    parent2 = scenario.inviters.get(parent1) if parent1 else None
    out = {}
    for tier, member in (("self", buyer_id), ("level1", parent1), ("level2", parent2)):
        if member is not None and member not in scenario.revoked:
            out[tier] = member
    return out


def counted_refunds(programme: Programme, order: OrderFact) -> list[RefundFact]:
    """The refunds that change the commission: success_time before the effective time."""
    effective = order.paid_at + timedelta(days=programme.freeze_days)
    return [r for r in order.refunds if r.success_time < effective]


def order_commissions(scenario: Scenario, order: OrderFact) -> dict[tuple[str, str], tuple[int, int]]:
    """(tier, member) -> (amount at payment, amount after the counted refunds); empty for a mismatch."""
    if order.paid_fen != order.total_fen:
        return {}
    programme = scenario.programme
    refunded = refunded_per_line(order, counted_refunds(programme, order))
    out = {}
    for tier, member in beneficiaries(scenario, order.buyer_id).items():
        original = after = 0
        for line in order.lines:
            rate = _rate(programme.product_rates.get(line.product_id, programme.rates), tier)
            original += line.paid_fen * rate // 10000
            after += (line.paid_fen - refunded[line.line_id]) * rate // 10000
        if original > 0:
            out[(tier, member)] = (original, after)
    return out


def order_growth(programme: Programme, order: OrderFact) -> int:
    if order.paid_fen != order.total_fen:
        return 0
    refunded = min(sum(r.amount_fen for r in order.refunds), order.paid_fen)
    value = Fraction(order.paid_fen - refunded) * Fraction(programme.growth_coefficient) / 100
    return max(0, value.numerator // value.denominator)


@dataclass
class MemberExpected:
    frozen_fen: int = 0
    available_fen: int = 0  # no settlement runs in the storm
    withdrawing_fen: int = 0
    withdrawn_fen: int = 0
    growth: int = 0


@dataclass
class OrderExpected:
    paid_fen: int
    refunded_fen: int
    flags: list[str]
    commissions: dict[tuple[str, str], int]  # (tier, member) -> amount; 0 = reversed
    growth: int


@dataclass
class Expected:
    members: dict[str, MemberExpected] = field(default_factory=dict)
    orders: dict[str, OrderExpected] = field(default_factory=dict)


def expected(scenario: Scenario) -> Expected:
    out = Expected(members={m: MemberExpected() for m in scenario.members})
    for order in scenario.orders:
        commissions = {key: after for key, (_, after) in order_commissions(scenario, order).items()}
        growth = order_growth(scenario.programme, order)
        out.orders[order.order_id] = OrderExpected(
            paid_fen=order.paid_fen,
            refunded_fen=sum(r.amount_fen for r in order.refunds),
            flags=["amount_mismatch"] if order.paid_fen != order.total_fen else [],
            commissions=commissions,
            growth=growth,
        )
        for (_, member), amount in commissions.items():
            out.members[member].frozen_fen += amount
        out.members[order.buyer_id].growth += growth
    return out
