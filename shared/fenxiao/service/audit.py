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

from fenxiao.adapters import members as members_table
from fenxiao.adapters import shops as shops_table
from fenxiao.adapters.ledger import account, ledger_totals
from fenxiao.adapters.members import MemberModel
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
        member = members_table.load_meta(shop_id, member_id)
        if member is None:
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
    page = members_table.members_page(shop_id, cursor.get("member_id"), PAGE_MEMBERS)
    differences: list[dict[str, Any]] = []
    for member_id in page.member_ids:
        differences.extend(audit_member(shop_id, member_id))
    checked = len(page.member_ids)
    if differences:
        logger().error("audit found differences", extra={"shop_id": shop_id, "count": len(differences)})
        count("AuditDifferences", len(differences), shop_id=shop_id)  # AuditDifferencesAlarm (template.yaml)
    if page.more and page.member_ids:
        next_cursor: dict[str, Any] | None = {"shop_id": shop_id, "member_id": page.member_ids[-1]}
    else:
        following = _next_shop(shop_id)
        next_cursor = {"shop_id": following} if following else None
    return Page(
        processed=checked,
        details={"differences": differences, "members_checked": checked},
        cursor=next_cursor,
    )


def _next_shop(after: str | None) -> str | None:
    return next(iter(shops_table.shop_ids(after, limit=1)), None)
