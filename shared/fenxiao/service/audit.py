"""The audit: recompute every member's balances and growth from the ledger and report each difference.

It walks shops (AllShops index) and, per shop, its members (MembersByShop index) in pages of
``PAGE_MEMBERS``; each member costs one GetItem and one Query of its own ledger partition (read again, up
to ``READS`` times, while they disagree: a movement committed between the two reads is not a difference).
It must always report no difference: balances are only ever changed in the same transaction as their
ledger entry.

It also checks the shop's summary counters (``adapters.summary``) against what it visits: the cursor carries,
from page to page of one shop, the sums of the members' ledger totals, the members and the distributors, and the
counters' ``writes`` read before the shop's first page. After the shop's last page the counters are read
again (one BatchGetItem) and the review queue counted (one Query): when no counted transaction committed
during the walk (``writes`` unchanged), the counters must equal the sums (``counter_differences``);
otherwise the shop is reported in ``counters_unverified`` (a busy shop: the next run, or the rebuild job,
tries again). ``orders_flagged`` is not checked: orders have no per-shop index to count them by.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fenxiao import clock
from fenxiao.adapters import members as members_table
from fenxiao.adapters import shops as shops_table
from fenxiao.adapters import summary as summary_table
from fenxiao.adapters import withdrawals as withdrawals_table
from fenxiao.adapters.ledger import account, ledger_totals
from fenxiao.adapters.members import MemberModel, load_member
from fenxiao.domain.ledger import BUCKETS
from fenxiao.observability import count, logger
from fenxiao.service import settings
from fenxiao.service.jobs import Page, next_in_shop, next_shop
from fenxiao.service.members import is_distributor_at

PAGE_MEMBERS = 100
READS = 3  # a member whose balances and ledger disagree is read again, up to this many times in all


def audit_member(shop_id: str, member_id: str) -> list[dict[str, Any]]:
    """The differences between a member's stored balances and its ledger (empty when they agree).

    The member and its ledger are two reads, and live traffic may commit a movement (balance + ledger entry
    in one transaction) between them: that looks like a difference that is not one. So a difference is
    reported only if it persists over READS pairs of reads; a negative bucket is reported at once."""
    return _audit_member(shop_id, member_id)[0]


Read = tuple[MemberModel, dict[str, int]]  # the member and its ledger's totals, as last read


def _audit_member(shop_id: str, member_id: str) -> tuple[list[dict[str, Any]], Read | None]:
    """``audit_member``, and what it read last (what the summary's sums add)."""
    member_account = account(shop_id, member_id)
    differences: list[dict[str, Any]] = []
    read: Read | None = None
    for _ in range(READS):
        member = members_table.load_meta(shop_id, member_id)
        if member is None:
            return [], None
        totals = ledger_totals(member_account)
        read = (member, totals)
        differences = _differences(shop_id, member_id, member, totals)
        if not any(d["ledger"] != "negative" for d in differences):
            return differences, read
    return differences, read


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
        shop_id = shops_table.next_shop_id(None)
        if shop_id is None:
            return Page(
                processed=0,
                details={
                    "differences": [],
                    "members_checked": 0,
                    "counter_differences": [],
                    "counters_unverified": [],
                },
            )
    sums = cursor.get("sums") or _start_sums(shop_id)
    page = members_table.members_page(shop_id, cursor.get("member_id"), PAGE_MEMBERS)
    at = clock.now()
    mode = settings.distribution_at(shop_id, at).eligibility.mode
    differences: list[dict[str, Any]] = []
    for member_id in page.member_ids:
        found, read = _audit_member(shop_id, member_id)
        differences.extend(found)
        if read is not None:
            _add(sums, *read, distributor=is_distributor_at(load_member(shop_id, member_id), at, mode))
    checked = len(page.member_ids)
    counter_differences: list[dict[str, Any]] = []
    unverified: list[str] = []
    if differences:
        logger().error("audit found differences", extra={"shop_id": shop_id, "count": len(differences)})
        count("AuditDifferences", len(differences), shop_id=shop_id)  # AuditDifferencesAlarm (template.yaml)
    next_cursor = next_in_shop(shop_id, page, sums)
    if next_cursor is None:
        verdict = check_counters(shop_id, sums)
        if verdict is None:
            unverified.append(shop_id)
        else:
            counter_differences = verdict
        next_cursor = next_shop(shop_id)
    if counter_differences:
        logger().error("audit found counter differences", extra={"shop_id": shop_id})
        count("AuditDifferences", len(counter_differences), shop_id=shop_id)
    return Page(
        processed=checked,
        details={
            "differences": differences,
            "members_checked": checked,
            "counter_differences": counter_differences,
            "counters_unverified": unverified,
        },
        cursor=next_cursor,
    )


# ---------------------------------------------------------------- the summary's counters

CHECKED = ("members", "distributors", *summary_table.MONEY)  # what the walk over the members adds up


def _start_sums(shop_id: str) -> dict[str, int]:
    """Before the shop's first member: zero sums and the counters' ``writes`` as they stand."""
    return {**dict.fromkeys(CHECKED, 0), "writes": summary_table.read_totals(shop_id)["writes"]}


def _add(sums: dict[str, int], member: MemberModel, ledger: dict[str, int], distributor: bool) -> None:
    # Money from the ledger, which the counters are moved with: a stored balance that left its ledger is
    # the member's difference above, not the counters'. Distributors by the rule (is_distributor_at), not
    # by the flag the counter moves with: a member a switch to mode none made one and no recount counted
    # yet is a difference.
    sums["members"] += 1
    sums["distributors"] += int(distributor)
    for bucket in summary_table.MONEY:
        sums[bucket] += ledger[bucket]


def check_counters(shop_id: str, sums: dict[str, int]) -> list[dict[str, Any]] | None:
    """The counters that differ from the walk's sums (and the review queue's length); None when a counted
    transaction committed during the walk, so the two cannot be compared."""
    counters = summary_table.read_totals(shop_id)
    if counters["writes"] != sums["writes"]:
        return None
    expected = {name: sums[name] for name in CHECKED}
    expected["withdrawals_pending_review"] = withdrawals_table.review_queue_length(shop_id)
    return [
        {"shop_id": shop_id, "field": name, "counters": counters[name], "members": value}
        for name, value in expected.items()
        if counters[name] != value
    ]
