"""Settlement: frozen commissions whose effective time has passed become available, each exactly once.

Cost follows what is due, never what is stored: the due commissions are found through the sparse, sharded
``DueCommissions`` index (``due_shard``, ``due_at``), which holds only frozen commissions with a known
effective time — a commission of a ``completion`` basis enters it only when its order completes, and leaves
it when it is released or reversed. A page walks the shards in order, reads at most ``PAGE_SIZE`` index
entries with ``due_at <= now``, fetches those commissions with one BatchGetItem and releases them in batches:
one transaction holds up to ``BATCH_COMMISSIONS`` commissions (each commission, its ledger entry, and one
balance update per member with the sum of that member's movements, all through the unit of work), so a
release costs a fraction of a round trip. The cursor names the shard and DynamoDB's position in it; the jobs
runner goes on to the next page in the same invocation while it has time and otherwise enqueues it, so a run
stays within Lambda limits whatever the backlog.

A page that crashes half way loses and doubles nothing: each release is conditional on the commission still
being frozen, at the version read, and due (and its ledger entry key is unique), so a redelivered page skips
what it already did. A refund racing settlement bumps the commission's version: the batch is cancelled, the
commission whose condition failed is skipped, and the others are released one by one (if it is still due,
the next run sees it again). A duplicate job message's run finds its batches cancelled the same way.

A refund the notification stored but the order consumer has not applied yet (the consumer lags, or its
messages fail) does not bump the commission. So before releasing an order's commissions, settlement reads the
order's ``REFUND#`` items (one strongly consistent Query on the partition, usually empty): if a reported refund
that counts (success_time before the effective time) is not among the refunds the commission reflects
(``counted_refunds``), the commission is held, the order is nudged, and a later run releases what the
consumer left. A batch's orders are read together (``READERS`` Queries in flight) right before its commit, so
the window that remains is still about one Query and one transaction long: a refund stored between that
Query and the batch's commit is treated as reported after the release (``late_refund``), see
docs/decisions.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import datetime
from typing import Any

from fenxiao.adapters import orders as orders_table
from fenxiao.adapters.dynamo import version_is
from fenxiao.adapters.ledger import commission_entry_key
from fenxiao.adapters.orders import DUE_SHARDS, CommissionModel
from fenxiao.adapters.unit_of_work import MAX_ITEMS, UnitOfWork, WriteConflict
from fenxiao.bootstrap import container
from fenxiao.domain.commission import counted_refunds
from fenxiao.domain.ledger import Movement
from fenxiao.observability import count, logger
from fenxiao.service.jobs import Page
from fenxiao.service.orders import nudge
from fenxiao.timefmt import from_key, key

PAGE_SIZE = 100  # commissions per page: at most DUE_SHARDS index reads and one BatchGetItem (100 keys)
BATCH_COMMISSIONS = 32  # commissions per release transaction: at most 96 of its 100 items (see _items)
READERS = 8  # a batch's refund Queries in flight at once (botocore's pool holds 10 connections)


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
    for orders in _batches(_by_order(_fetch(keys))):
        # The batch's refund reads run together right before its commit: the window stays one Query long.
        due: list[CommissionModel] = []
        for commissions, waiting in zip(orders, _refunds_of(orders), strict=True):
            for commission in commissions:
                if commission.sk in waiting:
                    held += 1
                elif _due(commission, now_key):
                    due.append(commission)
                else:
                    skipped += 1  # the index lags the item: it changed since, nothing to do
            if waiting:
                nudge(container(), commissions[0].shop_id, commissions[0].order_id)
        done = release_batch(due, now) if due else 0
        released, skipped = released + done, skipped + len(due) - done
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


def _batches(orders: list[list[CommissionModel]]) -> list[list[list[CommissionModel]]]:
    """The orders packed, in order, into batches whose commissions fit one release transaction."""
    batches: list[list[list[CommissionModel]]] = []
    for commissions in orders:
        if batches and _fits([c for o in batches[-1] for c in o] + commissions):
            batches[-1].append(commissions)
        else:
            batches.append([commissions])
    return batches


def _refunds_of(orders: list[list[CommissionModel]]) -> list[set[str]]:
    """:func:`_refunds_not_applied` of each order, the Queries in flight together (READERS at a time)."""
    if len(orders) == 1:
        return [_refunds_not_applied(orders[0])]
    with ThreadPoolExecutor(max_workers=min(READERS, len(orders))) as pool:
        # Each read in a copy of this context, so what the caller's context carries follows it.
        futures = [pool.submit(copy_context().run, _refunds_not_applied, order) for order in orders]
        return [future.result() for future in futures]


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


def _due(commission: CommissionModel, now_key: str) -> bool:
    return commission.status == "frozen" and bool(commission.due_at) and commission.due_at <= now_key


def _items(commissions: list[CommissionModel]) -> int:
    """The transaction items releasing ``commissions`` takes: each commission and its ledger entry, and one
    balance update per member (the unit of work adds a member's movements into one update)."""
    paying = [c for c in commissions if int(c.amount_fen) > 0]
    return len(commissions) + len(paying) + len({(c.shop_id, c.member_id) for c in paying})


def _fits(commissions: list[CommissionModel]) -> bool:
    return len(commissions) <= BATCH_COMMISSIONS and _items(commissions) <= MAX_ITEMS


def _label(commission: CommissionModel) -> str:
    return f"commission:{commission.order_id}:{commission.tier}:{commission.member_id}"


def _add_release(uow: UnitOfWork, commission: CommissionModel, now_key: str) -> None:
    """The release of one commission in ``uow``: its state change, conditional on it being frozen, due and
    at the version read, and its movement frozen -> available (ledger entry and balances)."""
    amount = int(commission.amount_fen)
    version = int(commission.version or 0)
    uow.update(
        _label(commission),
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
                _entry_key(commission),
                "commission_available",
                ref=commission.order_id,
                frozen_fen=-amount,
                available_fen=amount,
            )
        )


def _entry_key(commission: CommissionModel) -> str:
    return commission_entry_key(commission.order_id, commission.tier, commission.member_id, "RELEASE")


def release(commission: CommissionModel, now: datetime) -> bool:
    """Make one due commission available, in one transaction. False when it is not (or no longer) due."""
    now_key = key(now)
    if not _due(commission, now_key):
        return False  # the index lags the item: it changed since, nothing to do
    uow = UnitOfWork(now)
    _add_release(uow, commission, now_key)
    try:
        uow.commit()
    except WriteConflict as exc:
        logger().info(
            "commission changed before its release; skipped",
            extra={"order_id": commission.order_id, "tier": commission.tier, "failed": exc.failed()},
        )
        return False
    return True


def release_batch(commissions: list[CommissionModel], now: datetime) -> int:
    """Make due commissions available together, in one transaction (each member's balance updated once,
    with the sum); returns how many were released. When the transaction is cancelled (a refund or another
    run changed one of them), the commissions whose own condition failed are skipped and the others are
    released one by one, so one racing change never holds back the rest."""
    if len(commissions) == 1:
        return int(release(commissions[0], now))
    now_key = key(now)
    uow = UnitOfWork(now)
    for commission in commissions:
        _add_release(uow, commission, now_key)
    try:
        uow.commit()
    except WriteConflict as exc:
        failed = set(exc.failed())
        changed = {_label(c) for c in commissions if {_label(c), f"ledger:{_entry_key(c)}"} & failed}
        logger().info(
            "a batch of releases was cancelled; releasing one by one",
            extra={"batch": len(commissions), "changed": len(changed), "failed": sorted(failed)[:10]},
        )
        return sum(release(c, now) for c in commissions if _label(c) not in changed)
    return len(commissions)
