"""The audit: recompute every member's balances and growth from the ledger and report each difference.

It walks shops (AllShops index) and, per shop, its members (MembersByShop index) in pages of
``PAGE_MEMBERS``; each member costs one GetItem and one Query of its own ledger partition (read again, up
to ``READS`` times, while they disagree: a movement committed between the two reads is not a difference).
It must always report no difference: balances are only ever changed in the same transaction as their
ledger entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fenxiao.adapters.ledger import account, ledger_totals
from fenxiao.adapters.members import MemberModel
from fenxiao.adapters.shops import ShopModel
from fenxiao.domain.ledger import BUCKETS
from fenxiao.observability import count, logger
from fenxiao.service.jobs import Page

PAGE_MEMBERS = 100
READS = 3  # a member whose balances and ledger disagree is read again, up to this many times in all


def audit_member(shop_id: str, member_id: str) -> list[dict[str, Any]]:
    """The differences between a member's stored balances and its ledger (empty when they agree).

    The member and its ledger are two reads, and live traffic may commit a movement (balance + ledger entry
    in one transaction) between them: that looks like a difference that is not one. So a difference is
    reported only if it persists over READS pairs of reads; a negative bucket is reported at once."""
    member_account = account(shop_id, member_id)
    differences: list[dict[str, Any]] = []
    for _ in range(READS):
        try:
            member = MemberModel.get(member_account, MemberModel.SK, consistent_read=True)
        except MemberModel.DoesNotExist:
            return []
        totals = ledger_totals(member_account)
        differences = _differences(shop_id, member_id, member, totals)
        if not any(d["ledger"] != "negative" for d in differences):
            return differences
    return differences


def _differences(
    shop_id: str, member_id: str, member: MemberModel, totals: dict[str, int]
) -> list[dict[str, Any]]:
    differences = []
    for bucket in BUCKETS:
        stored = int(getattr(member, bucket) or 0)
        if stored != totals[bucket]:
            differences.append(
                {
                    "shop_id": shop_id,
                    "member_id": member_id,
                    "field": bucket,
                    "stored": stored,
                    "ledger": totals[bucket],
                }
            )
        if bucket != "growth" and stored < 0:
            differences.append(
                {
                    "shop_id": shop_id,
                    "member_id": member_id,
                    "field": bucket,
                    "stored": stored,
                    "ledger": "negative",
                }
            )
    return differences


def run_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """One page: up to PAGE_MEMBERS members of one shop. The cursor names the shop and the last member."""
    cursor = cursor or {}
    shop_id = cursor.get("shop_id")
    if shop_id is None:
        shop_id = _next_shop(None)
        if shop_id is None:
            return Page(processed=0, details={"differences": [], "members_checked": 0})
    last_member = cursor.get("member_id")
    query_args: dict[str, Any] = {"limit": PAGE_MEMBERS}
    if last_member:
        query_args["last_evaluated_key"] = {
            "shop_id": {"S": shop_id},
            "member_id": {"S": last_member},
            "member_key": {"S": account(shop_id, last_member)},
            "sk": {"S": MemberModel.SK},
        }
    result = MemberModel.members_by_shop.query(shop_id, **query_args)
    differences: list[dict[str, Any]] = []
    checked = 0
    member_id = None
    for item in result:
        member_id = str(getattr(item, "member_id", ""))
        differences.extend(audit_member(shop_id, member_id))
        checked += 1
    if differences:
        logger().error("audit found differences", extra={"shop_id": shop_id, "count": len(differences)})
        count("AuditDifferences", len(differences), shop_id=shop_id)  # AuditDifferencesAlarm (template.yaml)
    if result.last_evaluated_key and member_id:
        next_cursor: dict[str, Any] | None = {"shop_id": shop_id, "member_id": member_id}
    else:
        following = _next_shop(shop_id)
        next_cursor = {"shop_id": following} if following else None
    return Page(
        processed=checked,
        details={"differences": differences, "members_checked": checked},
        cursor=next_cursor,
    )


def _next_shop(after: str | None) -> str | None:
    args: dict[str, Any] = {"limit": 1}
    condition = ShopModel.shop_id > after if after else None
    for shop in ShopModel.all_shops.query("shop", condition, **args):
        return shop.shop_id
    return None
