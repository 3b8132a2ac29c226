"""The shop summary (SPEC §9 ``GET /shops/{s}/summary``): the counters of ``adapters.summary`` summed over
their shards, one BatchGetItem; every counter moves in the transaction of the fact it counts.

``rebuild_page`` (job ``summary-rebuild``, run by the operator) sets the counters of a shop that had data
before they existed: it walks the shop's members like the audit (100 a page, one BatchGetItem of their META
items), counts the review queue, and at the shop's end adds the difference to shard 0 in one transaction
guarded on every shard's ``writes`` as read at the walk's start: a shop where a counted transaction committed
during the walk is left as it was and reported busy (run again at a quiet hour). ``orders_flagged`` cannot be
rebuilt (no per-shop index of orders): it counts the flags set since the counters were deployed.
``distributors`` is counted by ``is_distributor_at`` (one Query of each member's partition): a member whose
counted flag disagrees is recounted first (its own transaction, whose ``writes`` the walk then expects).

``recount_page`` (job ``distributor-recount``, enqueued by a distribution PUT that switches the mode to
``none``, for that shop only; run by the operator, every shop) recounts each member not yet counted a
distributor (``members.recount``, one guarded transaction per member that changes): robust at a busy shop,
where the whole-shop rebuild would keep finding it busy, and a repeated page counts nobody twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fenxiao import clock
from fenxiao.adapters import members as members_table
from fenxiao.adapters import shops as shops_table
from fenxiao.adapters import summary as summary_table
from fenxiao.adapters import withdrawals as withdrawals_table
from fenxiao.adapters.members import load_member
from fenxiao.service import settings
from fenxiao.service.jobs import Page, next_in_shop, next_shop
from fenxiao.service.members import counted, is_distributor_at, recount

PAGE_MEMBERS = 100
REBUILT = ("members", "distributors", *summary_table.MONEY)  # added up over the members' META items


def shop_summary(shop_id: str) -> dict[str, Any]:
    totals = summary_table.read_totals(shop_id)
    return {
        "members": totals["members"],
        "distributors": totals["distributors"],
        "balances": {bucket: totals[bucket] for bucket in summary_table.MONEY},
        "withdrawals_pending_review": totals["withdrawals_pending_review"],
        "orders_flagged": totals["orders_flagged"],
    }


def rebuild_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """One page: up to PAGE_MEMBERS members of one shop; the cursor names the shop, the last member and the
    sums so far (with the counters' ``writes`` at the shop's start)."""
    cursor = cursor or {}
    shop_id = cursor.get("shop_id") or shops_table.next_shop_id(None)
    details: dict[str, Any] = {"members_counted": 0, "shops_rebuilt": [], "shops_busy": []}
    if shop_id is None:
        return Page(processed=0, details=details)
    sums = cursor.get("sums") or {
        **dict.fromkeys(REBUILT, 0),
        "writes": summary_table.read_totals(shop_id)["writes"],
    }
    page = members_table.members_page(shop_id, cursor.get("member_id"), PAGE_MEMBERS)
    at = clock.now()  # status as it stands, not at the job's start: a revocation since is counted already
    mode = settings.distribution_at(shop_id, at).eligibility.mode
    for meta in members_table.load_metas(shop_id, page.member_ids):
        member = load_member(shop_id, str(meta.member_id))
        distributor = is_distributor_at(member, at, mode)
        if distributor != counted(member) and recount(shop_id, str(meta.member_id), at, mode):
            sums["writes"] += 1  # our own counted transaction
        sums["members"] += 1
        sums["distributors"] += int(distributor)
        for bucket in summary_table.MONEY:
            sums[bucket] += int(getattr(meta, bucket) or 0)
    details["members_counted"] = len(page.member_ids)
    next_cursor = next_in_shop(shop_id, page, sums)
    if next_cursor is None:
        done = _rebuild(shop_id, sums)
        details["shops_rebuilt" if done else "shops_busy"].append(shop_id)
        next_cursor = next_shop(shop_id)
    return Page(processed=len(page.member_ids), details=details, cursor=next_cursor)


def _rebuild(shop_id: str, sums: dict[str, int]) -> bool:
    shards = summary_table.read_shards(shop_id)
    counters = summary_table.totals(shards)
    if counters["writes"] != sums["writes"]:
        return False  # counted while we walked: the sums are of no single moment
    target = {name: sums[name] for name in REBUILT}
    target["withdrawals_pending_review"] = withdrawals_table.review_queue_length(shop_id)
    deltas = {name: value - counters[name] for name, value in target.items()}
    return summary_table.correct(shop_id, shards, deltas)


def recount_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """One page: up to PAGE_MEMBERS members of one shop, those not counted a distributor read and recounted;
    the cursor names the shop, the last member and ``only`` (this shop only, as the settings PUT asks)."""
    cursor = cursor or {}
    shop_id = cursor.get("shop_id") or shops_table.next_shop_id(None)
    details: dict[str, Any] = {"distributors_added": 0, "distributors_removed": 0}
    if shop_id is None:
        return Page(processed=0, details=details)
    at = clock.now()  # status as it stands, not at the PUT: a revocation since is counted already
    mode = settings.distribution_at(shop_id, at).eligibility.mode
    page = members_table.members_page(shop_id, cursor.get("member_id"), PAGE_MEMBERS)
    for meta in members_table.load_metas(shop_id, page.member_ids):
        if meta.is_distributor:
            continue  # counted: only a revocation uncounts a member, and it moves the flag itself
        changed = recount(shop_id, str(meta.member_id), at, mode)
        details["distributors_added" if changed > 0 else "distributors_removed"] += abs(changed)
    if page.more and page.member_ids:
        next_cursor: dict[str, Any] | None = {**cursor, "shop_id": shop_id, "member_id": page.member_ids[-1]}
    elif cursor.get("only"):
        next_cursor = None
    else:
        next_cursor = next_shop(shop_id)
    return Page(processed=len(page.member_ids), details=details, cursor=next_cursor)
