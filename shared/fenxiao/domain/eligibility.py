"""Distributor eligibility (SPEC §2, 分销员门槛)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


def distributor_at(
    at: str,
    came_into_being: str | None,
    changes: Iterable[tuple[str, bool]],
    modes: Iterable[tuple[str, str]],
    initial_mode: str = "none",
) -> bool:
    """Whether a member is a distributor at ``at`` (SPEC §2: once a distributor, always one, unless the
    shop revokes it).

    Times are sortable keys (``timefmt.key``). ``changes``: the member's grants and revocations
    ``(at, active)`` (by the shop or by eligibility); ``modes``: the shop's eligibility mode versions
    ``(effective_at, mode)``, ``initial_mode`` before the first. ``came_into_being``: when the member was
    first referenced (None or a later time: at ``at`` itself, which references it).

    The answer is the latest of: the grants/revocations at or before ``at``, and the moments the member
    became a distributor by mode ``none`` — the start of each run of ``none`` (consecutive ``none``
    versions are one run) that began after the member came into being, or the member's coming into being
    during such a run. At the same moment a grant or revocation wins.
    """
    born = at if came_into_being is None or came_into_being > at else came_into_being
    by_none: str | None = None
    run_start: str | None = "" if initial_mode == "none" else None  # "": the shop's beginning
    for effective_at, mode in sorted(v for v in modes if v[0] <= at):
        if mode == "none":
            if run_start is None:
                run_start = effective_at
        elif run_start is not None:
            if effective_at > born:  # the run had not ended when the member came into being
                by_none = max(run_start, born)
            run_start = None
    if run_start is not None:
        by_none = max(run_start, born)
    explicit: tuple[str, bool] | None = None
    for change in sorted(c for c in changes if c[0] <= at):
        explicit = change
    if explicit is not None and (by_none is None or explicit[0] >= by_none):
        return explicit[1]
    return by_none is not None


@dataclass
class ModesSeen:
    """A shop's eligibility-mode versions ``(effective_at, mode)`` effective at or before ``final_to``: all
    of them, for good (versions are immutable), as read while the clock override stood at ``clock_offset``."""

    clock_offset: float
    final_to: str
    versions: list[tuple[str, str]]


class KnownModes:
    """Per shop, the eligibility-mode versions known for good; at most ``shops`` shops (the oldest kept is
    dropped first)."""

    def __init__(self, shops: int = 1000) -> None:
        self.shops = shops
        self._seen: dict[str, ModesSeen] = {}

    def get(self, shop_id: str, clock_offset: float) -> ModesSeen | None:
        """What is kept for the shop; None when nothing is, or it was read under another clock offset."""
        seen = self._seen.get(shop_id)
        return seen if seen is not None and seen.clock_offset == clock_offset else None

    def keep(self, shop_id: str, seen: ModesSeen) -> None:
        if shop_id not in self._seen and len(self._seen) >= self.shops:
            self._seen.pop(next(iter(self._seen)))
        self._seen[shop_id] = seen
