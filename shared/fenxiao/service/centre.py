"""The distribution centre's reads (SPEC §9): fans, 收益明细 and the 分销赚/自购返 preview.

Each list page is one Query of one index (FansByInviter / FansByGrandInviter, LedgerByTime); the routes
encode and check the cursors. The preview runs the engine's own rule (``domain.commission.plan_commissions``)
on a one-line order per item, with the rates as of now read in one BatchGetItem (``settings.rules_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fenxiao.adapters import ledger as ledger_table
from fenxiao.adapters import members as members_table
from fenxiao.adapters.members import load_member
from fenxiao.domain.commission import CommissionPlan, Rates, plan_commissions
from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.refunds import OrderLine
from fenxiao.service import settings
from fenxiao.service.members import is_distributor_at
from fenxiao.timefmt import rfc3339_from_key

# ---------------------------------------------------------------- fans


def fans_level(value: str | None) -> int:
    """The ``level`` query parameter: 1 (default) or 2."""
    if value is None:
        return 1
    if value not in ("1", "2"):
        raise InvalidInput("level: must be 1 or 2", code="invalid_field", field="level")
    return int(value)


def fans_scope(shop_id: str, member_id: str, level: int) -> dict[str, str]:
    return members_table.fans_scope(shop_id, member_id, level)


def fans(
    shop_id: str, member_id: str, level: int, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The member's current fans at ``level``, newest binding first; an unknown member has none."""
    found, last_key = members_table.fans_page(shop_id, member_id, level, start, limit)
    return [{"member_id": f.member_id, "bound_at": rfc3339_from_key(f.bound_at)} for f in found], last_key


# ---------------------------------------------------------------- 收益明细


def ledger_scope(shop_id: str, member_id: str) -> dict[str, str]:
    return {"account": ledger_table.account(shop_id, member_id)}


def ledger(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The member's money movements, newest first: one list entry per (ledger entry, money bucket it moves),
    so per bucket the amounts add up to the balance. Growth is not 收益 and is left out. A page holds the
    movements of up to ``limit`` ledger entries (an entry that moves two buckets gives two list entries)."""
    found, last_key = ledger_table.money_page(shop_id, member_id, start, limit)
    entries = []
    for entry in found:
        ref_name = "withdrawal_id" if entry.kind.startswith("withdrawal_") else "order_id"
        for bucket in ledger_table.MONEY_BUCKETS:
            amount = int(getattr(entry, bucket) or 0)
            if amount:
                entries.append(
                    {
                        "at": rfc3339_from_key(entry.at),
                        "kind": entry.kind,
                        "amount_fen": amount,
                        "bucket": bucket,
                        ref_name: entry.ref,
                    }
                )
    return entries, last_key


# ---------------------------------------------------------------- 分销赚 / 自购返


@dataclass(frozen=True)
class PreviewItem:
    product_id: str
    price_fen: int


def earnings(shop_id: str, member_id: str, items: list[PreviewItem], now: datetime) -> dict[str, Any]:
    """What ``member_id`` would earn now on one of each item: at level 1 when a fan buys it (分销赚) and on
    its own purchase (自购返), each 0 unless the member is a distributor and distribution is on."""
    dist, _membership, overrides = settings.rules_at(shop_id, sorted({i.product_id for i in items}), now)
    is_distributor = False
    if dist.enabled:
        is_distributor = is_distributor_at(load_member(shop_id, member_id), now, dist.eligibility.mode)
    defaults = Rates(dist.rates.level1_bp, dist.rates.level2_bp, dist.rates.self_bp)
    product_rates = {p: Rates(r.level1_bp, r.level2_bp, r.self_bp) for p, r in overrides.items()}
    answered = []
    for item in items:
        line = [OrderLine(line_id="1", product_id=item.product_id, quantity=1, paid_fen=item.price_fen)]
        # A fan (not a distributor: its own self plan is not ours) buys it, the member is its parent.
        share = plan_commissions(
            line, defaults, product_rates, "", False, member_id, is_distributor, None, False
        )
        own = plan_commissions(
            line, defaults, product_rates, member_id, is_distributor, None, False, None, False
        )
        answered.append(
            {
                "product_id": item.product_id,
                "price_fen": item.price_fen,
                "share_earn_fen": _amount(share, "level1"),
                "self_earn_fen": _amount(own, "self"),
            }
        )
    return {
        "items": answered,
        "show_earn_label": dist.ui.show_earn_label,
        "show_self_purchase_label": dist.ui.show_self_purchase_label,
    }


def _amount(plans: list[CommissionPlan], tier: str) -> int:
    return sum(p.amount_fen for p in plans if p.tier == tier)
