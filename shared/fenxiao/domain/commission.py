"""Who earns what on a paid order, and what a commission becomes after refunds (SPEC §3).

A plan is computed once, when both the order and its payment are known, from the facts as they stood at
the payment's ``success_time`` (rates, distributor status, binding); its ``lines`` are the snapshot that
later recomputations after refunds use, so configuration changes never alter it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.money import BP_SCALE, commission_fen
from fenxiao.domain.refunds import OrderLine, Refund

Tier = Literal["self", "level1", "level2"]
Basis = Literal["payment", "completion"]


@dataclass(frozen=True)
class Rates:
    """Commission rates in basis points: the shop's defaults or one product's override of all three."""

    level1_bp: int
    level2_bp: int
    self_bp: int


@dataclass(frozen=True)
class LineRate:
    """One order line as a commission sees it: what was paid and the rate snapshotted at payment."""

    line_id: str
    paid_fen: int
    rate_bp: int


@dataclass(frozen=True)
class CommissionPlan:
    """One beneficiary's commission on one order; ``amount_fen`` = sum of ``commission_fen`` over lines."""

    tier: Tier
    member_id: str
    lines: tuple[LineRate, ...]
    amount_fen: int


def validate_rates(rates: Rates, field: str = "rates") -> None:
    """Each rate between 0 and 10000 bp; raises ``InvalidInput`` with ``field`` like ``rates.level1_bp``."""
    for name in ("level1_bp", "level2_bp", "self_bp"):
        value = getattr(rates, name)
        if not 0 <= value <= BP_SCALE:
            raise InvalidInput(f"{name} must be between 0 and {BP_SCALE}", field=f"{field}.{name}")


def rates_for(product_id: str, default_rates: Rates, product_rates: Mapping[str, Rates]) -> Rates:
    """The product's own rates (all three together) if it has them, else the shop's defaults."""
    return product_rates.get(product_id, default_rates)


def plan_commissions(
    lines: Sequence[OrderLine],
    default_rates: Rates,
    product_rates: Mapping[str, Rates],
    buyer_id: str,
    buyer_is_distributor: bool,
    parent1: str | None,
    parent1_is_distributor: bool,
    parent2: str | None,
    parent2_is_distributor: bool,
) -> list[CommissionPlan]:
    """The commissions an order earns, in the order self, level1, level2.

    ``self`` to the buyer if a distributor when the order was paid, ``level1`` to the buyer's parent and
    ``level2`` to that parent's parent, each only if a distributor. Each line earns
    ``floor(paid_fen * rate_bp / 10000)`` at its product's rates (else the defaults), summed per
    beneficiary; shipping is not a line and never earns. A plan whose amount is 0 is omitted, so a
    member who is not a distributor, or a zero rate, gives no plan at all.
    """
    candidates: list[tuple[Tier, str | None, bool]] = [
        ("self", buyer_id, buyer_is_distributor),
        ("level1", parent1, parent1_is_distributor),
        ("level2", parent2, parent2_is_distributor),
    ]
    plans: list[CommissionPlan] = []
    for tier, member_id, is_distributor in candidates:
        if member_id is None or not is_distributor:
            continue
        plan_lines = tuple(
            LineRate(
                line_id=line.line_id,
                paid_fen=line.paid_fen,
                rate_bp=_tier_rate(rates_for(line.product_id, default_rates, product_rates), tier),
            )
            for line in lines
        )
        amount = sum(commission_fen(line.paid_fen, line.rate_bp) for line in plan_lines)
        if amount > 0:
            plans.append(CommissionPlan(tier=tier, member_id=member_id, lines=plan_lines, amount_fen=amount))
    return plans


def amount_after_refunds(plan_lines: Sequence[LineRate], refunded_per_line: Mapping[str, int]) -> int:
    """``sum(floor((paid_fen - refunded_fen) * rate_bp / 10000))`` over the plan's lines.

    A line's refund is capped at what it paid (never a negative base); a line missing from
    ``refunded_per_line`` had no refund. A full refund gives 0 (the commission is reversed).
    """
    return sum(
        commission_fen(
            line.paid_fen - min(max(refunded_per_line.get(line.line_id, 0), 0), line.paid_fen), line.rate_bp
        )
        for line in plan_lines
    )


def counted_refunds(refunds: Iterable[Refund], effective_at: datetime | None) -> list[Refund]:
    """The refunds that reduce a commission: those whose ``success_time`` is before its effective time.

    ``effective_at`` None means the commission has no effective time yet (completion basis, order not
    completed), so every refund so far counts. A refund at or after the effective time does not count.
    """
    if effective_at is None:
        return list(refunds)
    return [refund for refund in refunds if refund.success_time < effective_at]


def effective_at(
    basis: Basis, freeze_days: int, paid_at: datetime, completed_at: datetime | None
) -> datetime | None:
    """When a commission becomes available (佣金生效时间).

    ``payment``: ``freeze_days`` days after ``paid_at``; ``completion``: ``freeze_days`` days after
    ``completed_at``, and None while the order is not completed. A day is 24 hours (Asia/Shanghai has no
    daylight saving, so this is also the same wall-clock time N calendar days later).
    """
    if freeze_days < 0:
        raise ValueError("freeze_days must not be negative")
    _require_aware(paid_at, "paid_at")
    if basis == "payment":
        return paid_at + timedelta(days=freeze_days)
    if completed_at is None:
        return None
    _require_aware(completed_at, "completed_at")
    return completed_at + timedelta(days=freeze_days)


def _tier_rate(rates: Rates, tier: Tier) -> int:
    if tier == "self":
        return rates.self_bp
    if tier == "level1":
        return rates.level1_bp
    return rates.level2_bp


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
