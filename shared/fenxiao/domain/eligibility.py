"""Distributor eligibility (SPEC §2, 分销员门槛)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from fenxiao.domain.errors import InvalidInput

EligibilityMode = Literal["none", "purchases", "product"]


@dataclass(frozen=True)
class Eligibility:
    """How a member becomes a distributor: ``none`` (everyone, 人人可以分销), ``purchases`` (at least
    ``min_orders`` paid orders and a paid total above ``min_amount_fen``), ``product`` (paid for any of
    ``product_ids``)."""

    mode: EligibilityMode
    min_orders: int = 0
    min_amount_fen: int = 0
    product_ids: frozenset[str] = field(default_factory=frozenset)


def qualifies(
    eligibility: Eligibility, paid_orders: int, paid_total_fen: int, bought_product_ids: Collection[str]
) -> bool:
    """Whether a member with this purchase history meets the shop's threshold.

    ``purchases``: ``paid_orders >= min_orders`` and ``paid_total_fen > min_amount_fen`` (strictly
    greater, as SPEC §2 says); ``product``: any bought product is one of ``product_ids``; ``none``: always.
    The service calls this after an order's commissions are computed, so the qualifying order itself
    earns no self-purchase commission.
    """
    if eligibility.mode == "none":
        return True
    if eligibility.mode == "purchases":
        return paid_orders >= eligibility.min_orders and paid_total_fen > eligibility.min_amount_fen
    return any(product_id in eligibility.product_ids for product_id in bought_product_ids)


def validate_eligibility(eligibility: Eligibility, field_prefix: str = "eligibility") -> None:
    """A shop's threshold: known mode, non-negative ``min_orders`` and ``min_amount_fen``, and at least one
    product id (none empty) in ``product`` mode. Raises ``InvalidInput`` like ``eligibility.min_orders``."""
    if eligibility.mode not in ("none", "purchases", "product"):
        raise InvalidInput("mode must be none, purchases or product", field=f"{field_prefix}.mode")
    if eligibility.min_orders < 0:
        raise InvalidInput("min_orders must not be negative", field=f"{field_prefix}.min_orders")
    if eligibility.min_amount_fen < 0:
        raise InvalidInput("min_amount_fen must not be negative", field=f"{field_prefix}.min_amount_fen")
    if eligibility.mode == "product" and not eligibility.product_ids:
        raise InvalidInput("product mode needs at least one product id", field=f"{field_prefix}.product_ids")
    if any(not product_id for product_id in eligibility.product_ids):
        raise InvalidInput("product ids must not be empty", field=f"{field_prefix}.product_ids")
