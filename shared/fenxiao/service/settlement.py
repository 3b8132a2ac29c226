"""Settlement: frozen commissions whose effective time has passed become available, each exactly once.

Cost follows what is due, never what is stored: the due commissions are found through the sparse, sharded
``DueCommissions`` index (``due_shard``, ``due_at``), which holds only frozen commissions with a known
effective time — a commission of a ``completion`` basis enters it only when its order completes, and leaves
it when it is released or reversed. A page walks the shards in order, reads at most ``PAGE_SIZE`` index
entries with ``due_at <= now``, fetches those commissions with one BatchGetItem and releases each one in its
own transaction (commission + ledger entry + balances). The cursor names the shard and DynamoDB's position
in it; the jobs entry enqueues the next page, so a run stays within Lambda limits whatever the backlog.

A page that crashes half way loses and doubles nothing: each release is conditional on the commission still
being frozen, at the version read, and due (and its ledger entry key is unique), so a redelivered page skips
what it already did. A refund racing settlement bumps the commission's version: the release is cancelled and
the commission is skipped; if it is still due, the next run sees it again.

A refund the notification stored but the order consumer has not applied yet (the consumer lags, or its
messages fail) does not bump the commission. So before releasing an order's commissions, settlement reads the
order's ``REFUND#`` items (one strongly consistent Query on the partition, usually empty): if a reported refund
that counts (success_time before the effective time) is not among the refunds the commission reflects
(``counted_refunds``), the commission is held, the order is nudged, and a later run releases what the
consumer left. The window that remains is a refund stored between that Query and the release's commit
(milliseconds); it is then treated as reported after the release (``late_refund``), see docs/decisions.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fenxiao.adapters import orders as orders_table
from fenxiao.adapters.dynamo import version_is
from fenxiao.adapters.ledger import commission_entry_key
from fenxiao.adapters.orders import DUE_SHARDS, CommissionModel
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.bootstrap import container
from fenxiao.domain.commission import counted_refunds
from fenxiao.domain.ledger import Movement
from fenxiao.observability import count, logger
from fenxiao.service.jobs import Page
from fenxiao.service.orders import nudge
from fenxiao.timefmt import from_key, key

PAGE_SIZE = 50  # commissions per page: at most DUE_SHARDS index reads, one batch read, PAGE_SIZE transactions


def run_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """One page of settlement as of ``now``: up to PAGE_SIZE due commissions, continuing where ``cursor`` says."""
    now_key = key(now)
    shard = int((cursor or {}).get("shard", 0))
    start: dict[str, Any] | None = (cursor or {}).get("start")
    keys: list[tuple[str, str]] = []
    while shard < DUE_SHARDS and len(keys) < PAGE_SIZE:
        found, start = orders_table.due_commission_keys(shard, now_key, PAGE_SIZE - len(keys), start)
        keys.extend(found)
        if start is None:
            shard += 1
    released = skipped = held = 0
    for commissions in _by_order(_fetch(keys)):
        # Read the order's refunds right before releasing its commissions: the window stays milliseconds.
        waiting = _refunds_not_applied(commissions)
        for commission in commissions:
            if commission.sk in waiting:
                held += 1
            elif release(commission, now):
                released += 1
            else:
                skipped += 1
        if waiting:
            first = commissions[0]
            nudge(container(), first.shop_id, first.order_id)
    next_cursor = {"shard": shard, "start": start} if shard < DUE_SHARDS else None
    if released:
        count("CommissionsReleased", released)
    if held:
        count("CommissionsHeldForRefund", held)
        logger().warning("settlement held commissions with a refund not applied yet", extra={"held": held})
    if skipped:
        logger().info("settlement skipped commissions that changed", extra={"skipped": skipped})
    return Page(
        processed=released + skipped + held,
        details={"released": released, "skipped": skipped, "held": held},
        cursor=next_cursor,
    )


def _by_order(commissions: list[CommissionModel]) -> list[list[CommissionModel]]:
    """The commissions grouped by order, groups in the order their first commission comes."""
    groups: dict[str, list[CommissionModel]] = {}
    for commission in commissions:
        groups.setdefault(commission.order_key, []).append(commission)
    return list(groups.values())


def _refunds_not_applied(commissions: list[CommissionModel]) -> set[str]:
    """The sort keys of the order's commissions that a reported refund should have reduced but has not yet:
    a refund WeChat Pay reported, with success_time before the commission's effective time, missing from
    the refunds the commission reflects. One strongly consistent Query of the order's REFUND# items."""
    first = commissions[0]
    reported = orders_table.reported_refunds(first.shop_id, first.order_id)
    if not reported:
        return set()
    waiting = set()
    for commission in commissions:
        effective = from_key(commission.effective_at) if commission.effective_at else None
        counted = {r.out_refund_no for r in counted_refunds(reported, effective)}
        if counted - set(commission.counted_refunds or []):
            waiting.add(commission.sk)
    return waiting


def _fetch(keys: list[tuple[str, str]]) -> list[CommissionModel]:
    """The full commissions behind index entries (the index projects keys only), read strongly consistent."""
    return sorted(orders_table.get_commissions(keys), key=lambda c: (c.due_at or "", c.order_key, c.sk))


def release(commission: CommissionModel, now: datetime) -> bool:
    """Make one due commission available, in one transaction. False when it is not (or no longer) due."""
    now_key = key(now)
    if commission.status != "frozen" or not commission.due_at or commission.due_at > now_key:
        return False  # the index lags the item: it changed since, nothing to do
    amount = int(commission.amount_fen)
    version = int(commission.version or 0)
    uow = UnitOfWork(now)
    uow.update(
        "commission",
        CommissionModel(commission.order_key, commission.sk),
        actions=[
            CommissionModel.status.set("available"),
            CommissionModel.version.set(version + 1),
            CommissionModel.due_shard.remove(),
            CommissionModel.due_at.remove(),
            CommissionModel.released_at.set(now_key),
        ],
        condition=(CommissionModel.status == "frozen")
        & version_is(CommissionModel.version, version)
        & (CommissionModel.due_at <= now_key),
    )
    if amount > 0:
        uow.move(
            Movement(
                commission.shop_id,
                commission.member_id,
                commission_entry_key(commission.order_id, commission.tier, commission.member_id, "RELEASE"),
                "commission_available",
                ref=commission.order_id,
                frozen_fen=-amount,
                available_fen=amount,
            )
        )
    try:
        uow.commit()
    except WriteConflict as exc:
        logger().info(
            "commission changed before its release; skipped",
            extra={"order_id": commission.order_id, "tier": commission.tier, "failed": exc.failed()},
        )
        return False
    return True
