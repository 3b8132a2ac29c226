"""Money fixtures for settlement and withdrawal tests: commissions written straight into storage, each with its
``commission_frozen`` ledger movement in the same transaction (so ledger and balances agree from the start),
available balance obtained the way production gets it (settlement's release), and the audit to end a test."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fenxiao import clock
from fenxiao.adapters.ledger import LedgerEntryModel, account
from fenxiao.adapters.members import MemberModel
from fenxiao.adapters.orders import CommissionLineMap, CommissionModel, due_shard, order_key
from fenxiao.adapters.unit_of_work import UnitOfWork
from fenxiao.domain.ledger import Movement
from fenxiao.timefmt import key


def frozen_commission(
    shop_id: str,
    order_id: str,
    member_id: str,
    amount_fen: int,
    effective_at: datetime | None,
    *,
    tier: str = "level1",
    paid_at: datetime | None = None,
    basis: str = "payment",
) -> CommissionModel:
    """A frozen commission; with an ``effective_at`` it is in the DueCommissions index from then on."""
    paid = paid_at or (effective_at - timedelta(days=7) if effective_at else clock.now())
    commission = CommissionModel(
        order_key(shop_id, order_id),
        f"COMM#{tier}#{member_id}",
        shop_id=shop_id,
        order_id=order_id,
        tier=tier,
        member_id=member_id,
        lines=[CommissionLineMap(line_id="l1", paid_fen=amount_fen * 10, rate_bp=1000)],
        original_fen=amount_fen,
        amount_fen=amount_fen,
        status="frozen",
        basis=basis,
        freeze_days=7,
        paid_at=key(paid),
        effective_at=key(effective_at) if effective_at else None,
        version=0,
        beneficiary=account(shop_id, member_id),
        paid_sort=f"{key(paid)}#{order_id}#{tier}",
    )
    if effective_at is not None:
        commission.due_shard = due_shard(order_id, tier, member_id)
        commission.due_at = key(effective_at)
    uow = UnitOfWork(paid)
    uow.save("commission", commission, condition=CommissionModel.sk.does_not_exist())
    uow.move(
        Movement(
            shop_id,
            member_id,
            f"COMM#{order_id}#{tier}#{member_id}#FROZEN",
            "commission_frozen",
            ref=order_id,
            frozen_fen=amount_fen,
        )
    )
    uow.commit()
    return commission


def give_available(shop_id: str, member_id: str, amount_fen: int, order_id: str | None = None) -> None:
    """Make ``amount_fen`` available to the member: a commission that is due now, released by settlement."""
    from fenxiao.service.settlement import release

    now = clock.now()
    commission = frozen_commission(
        shop_id, order_id or f"o-{member_id}-{amount_fen}-{key(now)[-9:-1]}", member_id, amount_fen, now
    )
    assert release(commission, now)


def balance(shop_id: str, member_id: str) -> dict[str, int]:
    try:
        m = MemberModel.get(account(shop_id, member_id), MemberModel.SK, consistent_read=True)
    except MemberModel.DoesNotExist:
        return {"frozen_fen": 0, "available_fen": 0, "withdrawing_fen": 0, "withdrawn_fen": 0}
    return {
        b: int(getattr(m, b) or 0)
        for b in ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen")
    }


def entries(shop_id: str, member_id: str, prefix: str = "") -> list[LedgerEntryModel]:
    return [
        e
        for e in LedgerEntryModel.query(account(shop_id, member_id), consistent_read=True)
        if e.entry_key.startswith(prefix)
    ]


def assert_audit_clean(now: datetime | None = None) -> int:
    """Run the audit job to its end; every member's balances must equal its ledger, and every shop's summary
    counters what its members add up to (checked: nothing moves during a test's audit). Returns members checked."""
    from fenxiao.service.audit import run_page

    cursor: dict[str, Any] | None = None
    checked = 0
    while True:
        page = run_page(now or clock.now(), cursor)
        assert page.details["differences"] == [], page.details["differences"]
        assert page.details["counter_differences"] == [], page.details["counter_differences"]
        assert page.details["counters_unverified"] == [], page.details["counters_unverified"]
        checked += page.details["members_checked"]
        cursor = page.cursor
        if cursor is None:
            return checked
