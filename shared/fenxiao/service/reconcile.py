"""The order consumer: converge an order's derived state (payment applied, commissions, clawbacks,
effective times, growth, distributor eligibility) with its stored facts.

It reads the order's partition, computes what should be, and writes the difference in ONE transaction
guarded by the ORDER item's ``version`` (and each commission's own ``version``), so two runs at once, a
duplicate nudge or a run racing settlement can never apply anything twice: the loser's transaction is
cancelled and it re-reads. Ledger entries carry unique business keys as a second guard.

Facts may arrive in any order. Nothing happens until both the order and its payment are known; refunds
reported earlier are held (they are facts in the partition) and counted when the payment is applied.
The commission is computed once, with the binding, distributor status, rates and rules as they stood at
the payment's success_time (SPEC §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fenxiao.adapters import orders as orders_table
from fenxiao.adapters.dynamo import version_is
from fenxiao.adapters.ledger import (
    commission_adjustment_key,
    commission_entry_key,
    order_growth_key,
)
from fenxiao.adapters.members import MemberRecord, load_member, new_distributor_change
from fenxiao.adapters.orders import CommissionModel, OrderModel, OrderState, due_shard, load_order
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.bootstrap import Container
from fenxiao.domain.commission import (
    CommissionPlan,
    Rates,
    amount_after_refunds,
    counted_refunds,
    effective_at,
    plan_commissions,
)
from fenxiao.domain.commission import LineRate as DomainLineRate
from fenxiao.domain.eligibility import Eligibility, qualifies
from fenxiao.domain.growth import order_growth, parse_coefficient
from fenxiao.domain.ledger import Movement
from fenxiao.domain.refunds import OrderLine, Refund, line_refunds
from fenxiao.observability import count, logger
from fenxiao.service import settings
from fenxiao.service.members import is_distributor_at
from fenxiao.timefmt import from_key, key

MAX_ATTEMPTS = 5


class NotConverged(RuntimeError):
    """Concurrent changes kept cancelling the transaction; the message is retried later."""


def reconcile_order(c: Container, shop_id: str, order_id: str, now: datetime) -> bool:
    """Bring the order's derived state up to date. Returns whether anything was written."""
    for _ in range(MAX_ATTEMPTS):
        state = load_order(shop_id, order_id)
        plan = _plan(state, now)
        if plan is None:
            return False
        try:
            plan.uow.commit()
        except WriteConflict as exc:
            logger().info(
                "order changed concurrently; re-reading", extra={"order_id": order_id, "failed": exc.failed()}
            )
            continue
        for name, value in plan.metrics.items():
            count(name, value)
        return True
    raise NotConverged(f"order {order_id} kept changing; will retry")


@dataclass
class _Plan:
    uow: UnitOfWork
    metrics: dict[str, int]


def _plan(state: OrderState, now: datetime) -> _Plan | None:
    order = state.order
    if order is None or not state.payments:
        return None  # refunds and payments wait for the order; the order waits for its payment
    uow = UnitOfWork(now)
    metrics: dict[str, int] = {}
    order_actions: list[Any] = []
    flags = set(order.flags or [])
    refunds = state.reported_refunds()
    paid_total = sum(r.amount_fen for r in refunds)

    if order.applied_transaction_id is None:
        payment = state.payments[0]  # the earliest known, by success_time (load_order sorts them)
        _apply_payment(state, payment, refunds, uow, order_actions, flags, metrics)
    else:
        _update_commissions(state, refunds, uow, flags, metrics, now)
        _update_growth(state, refunds, uow, order_actions)
    if len(state.payments) > 1:
        flags.add("duplicate_payment")
    paid_fen = int(order.paid_fen) if order.paid_fen is not None else int(state.payments[0].total_fen)
    if paid_total > paid_fen:
        flags.add("refund_exceeds_paid")
    if flags != set(order.flags or []):
        order_actions.append(OrderModel.flags.set(flags) if flags else OrderModel.flags.remove())
        # Guarded by the order's version below: counted once per change.
        uow.count(state.shop_id, "orders_flagged", int(bool(flags)) - int(bool(order.flags)), state.order_id)
    if uow.empty and not order_actions:
        return None
    version = int(order.version or 0)
    order_actions.append(OrderModel.version.set(version + 1))
    uow.update(
        "order",
        orders_table.order_item(state.shop_id, state.order_id),
        actions=order_actions,
        condition=version_is(OrderModel.version, version),
    )
    return _Plan(uow, metrics)


# ---------------------------------------------------------------- applying the payment (once)


def _apply_payment(
    state: OrderState,
    payment: Any,
    refunds: list[Refund],
    uow: UnitOfWork,
    order_actions: list[Any],
    flags: set[str],
    metrics: dict[str, int],
) -> None:
    order = state.order
    assert order is not None
    shop_id, order_id = state.shop_id, state.order_id
    paid_at = from_key(payment.success_time)
    paid_fen = int(payment.total_fen)
    order_actions += [
        OrderModel.applied_transaction_id.set(payment.transaction_id),
        OrderModel.paid_fen.set(paid_fen),
        OrderModel.paid_at.set(payment.success_time),
    ]
    if paid_fen != int(order.total_fen or 0):
        flags.add("amount_mismatch")  # no commission, no growth; stays visible to the shop
        order_actions.append(OrderModel.snapshot.set({"amount_mismatch": True}))
        metrics["OrdersAmountMismatch"] = 1
        return

    lines = state.lines
    dist, membership, overrides = settings.rules_at(
        shop_id, sorted({line.product_id for line in lines}), paid_at
    )
    mode = dist.eligibility.mode
    buyer_id = str(order.buyer_id)
    buyer = load_member(shop_id, buyer_id)
    uow.known(shop_id, buyer_id, buyer.meta is not None)
    # The mode at the payment stands for the mode now (a new buyer is created counted under ``none``): they
    # differ only when a settings PUT came in between, and the recount it enqueues settles such a buyer.
    uow.eligibility(shop_id, mode)
    buyer_is_distributor = is_distributor_at(buyer, paid_at, mode)

    plans: list[CommissionPlan] = []
    if dist.enabled:
        parent1 = buyer.inviter_at(paid_at)
        record1 = load_member(shop_id, parent1) if parent1 else None
        parent2 = record1.inviter_at(paid_at) if record1 else None
        record2 = load_member(shop_id, parent2) if parent2 else None
        for record in (record1, record2):
            if record is not None:
                uow.known(shop_id, record.member_id, record.meta is not None)
        product_rates = {p: Rates(r.level1_bp, r.level2_bp, r.self_bp) for p, r in overrides.items()}
        defaults = Rates(dist.rates.level1_bp, dist.rates.level2_bp, dist.rates.self_bp)
        plans = plan_commissions(
            lines,
            defaults,
            product_rates,
            buyer_id,
            buyer_is_distributor,
            parent1,
            is_distributor_at(record1, paid_at, mode) if record1 else False,
            parent2,
            is_distributor_at(record2, paid_at, mode) if record2 else False,
        )
    basis = dist.settlement.basis
    freeze_days = dist.settlement.freeze_days
    completed_at = from_key(order.completed_at) if order.completed_at else None
    effective = effective_at(basis, freeze_days, paid_at, completed_at)
    counted = counted_refunds(refunds, effective)
    refunded_lines = line_refunds(lines, counted) if counted else {}
    for plan in plans:
        amount = amount_after_refunds(plan.lines, refunded_lines) if counted else plan.amount_fen
        _new_commission(state, plan, amount, basis, freeze_days, paid_at, effective, counted, uow)
        metrics["CommissionsWritten"] = metrics.get("CommissionsWritten", 0) + 1

    coefficient = membership.growth_coefficient
    refunded_total = min(sum(r.amount_fen for r in refunds), paid_fen)
    growth = order_growth(paid_fen, refunded_total, parse_coefficient(coefficient))
    if growth:
        uow.move(
            Movement(
                shop_id, buyer_id, order_growth_key(order_id, 0), "growth_order", ref=order_id, growth=growth
            )
        )
    order_actions += [
        OrderModel.growth_awarded.set(growth),
        OrderModel.snapshot.set(
            {
                "enabled": dist.enabled,
                "basis": basis,
                "freeze_days": freeze_days,
                "growth_coefficient": coefficient,
                "eligibility_mode": mode,
            }
        ),
    ]
    _eligibility(state, buyer, dist.eligibility, buyer_is_distributor, paid_at, paid_fen, lines, uow)


def _new_commission(
    state: OrderState,
    plan: CommissionPlan,
    amount: int,
    basis: str,
    freeze_days: int,
    paid_at: datetime,
    effective: datetime | None,
    counted: list[Refund],
    uow: UnitOfWork,
) -> None:
    shop_id, order_id = state.shop_id, state.order_id
    commission = orders_table.new_commission(
        shop_id,
        order_id,
        plan,
        amount_fen=amount,
        basis=basis,
        freeze_days=freeze_days,
        paid_at=key(paid_at),
        effective_at=key(effective) if effective else None,
        counted_refunds={r.out_refund_no for r in counted},
    )
    uow.save(f"commission:{plan.tier}", commission, condition=CommissionModel.sk.does_not_exist())
    uow.move(
        Movement(
            shop_id,
            plan.member_id,
            commission_entry_key(order_id, plan.tier, plan.member_id, "FROZEN"),
            "commission_frozen",
            ref=order_id,
            frozen_fen=plan.amount_fen,
        )
    )
    if amount != plan.amount_fen:
        uow.move(
            Movement(
                shop_id,
                plan.member_id,
                commission_adjustment_key(order_id, plan.tier, plan.member_id, 0),
                "commission_clawback",
                ref=order_id,
                frozen_fen=amount - plan.amount_fen,
            )
        )


def _eligibility(
    state: OrderState,
    buyer: MemberRecord,
    rule: Any,
    buyer_is_distributor: bool,
    paid_at: datetime,
    paid_fen: int,
    lines: list[OrderLine],
    uow: UnitOfWork,
) -> None:
    """Count the paid order for the buyer and, after its commissions, make them a distributor if it
    qualifies them (SPEC §2: the qualifying order earns no self-purchase commission)."""
    from fenxiao.adapters.members import MemberModel

    shop_id, buyer_id = state.shop_id, buyer.member_id
    meta = buyer.meta
    orders_before = int(meta.paid_orders or 0) if meta else 0
    total_before = int(meta.paid_total_fen or 0) if meta else 0
    bought_before = set(meta.bought_products or []) if meta else set()
    products = {line.product_id for line in lines}
    actions = [
        MemberModel.paid_orders.add(1),
        MemberModel.paid_total_fen.add(paid_fen),
        MemberModel.bought_products.add(products),
    ]
    # The decision below reads these counters: guard them so two orders of one buyer cannot both miss it.
    uow.member(
        shop_id, buyer_id, actions=actions, condition=version_is(MemberModel.paid_orders, orders_before)
    )
    if buyer_is_distributor or buyer.explicit_status_at(paid_at) is not None or rule.mode == "none":
        return
    eligibility = Eligibility(
        mode=rule.mode,
        min_orders=rule.min_orders,
        min_amount_fen=rule.min_amount_fen,
        product_ids=frozenset(rule.product_ids),
    )
    if qualifies(eligibility, orders_before + 1, total_before + paid_fen, bought_before | products):
        at = key(paid_at)
        grant, once = new_distributor_change(shop_id, buyer_id, True, at, f"eligibility:{state.order_id}")
        uow.save("eligibility", grant, condition=once)
        uow.member(shop_id, buyer_id, actions=[MemberModel.distributor_since.set(at)])
        uow.distributor(shop_id, buyer_id, bool(meta.is_distributor) if meta else False, True)


# ---------------------------------------------------------------- refunds and completion after the payment


def _update_commissions(
    state: OrderState,
    refunds: list[Refund],
    uow: UnitOfWork,
    flags: set[str],
    metrics: dict[str, int],
    now: datetime,
) -> None:
    order = state.order
    assert order is not None
    lines = state.lines
    completed_at = from_key(order.completed_at) if order.completed_at else None
    for commission in state.commissions:
        paid_at = from_key(commission.paid_at)
        known = from_key(commission.effective_at) if commission.effective_at else None
        effective = known or effective_at(
            _basis(commission.basis), int(commission.freeze_days), paid_at, completed_at
        )
        counted = counted_refunds(refunds, effective)
        counted_nos = {r.out_refund_no for r in counted}
        status = str(commission.status)
        if status == "available":
            if counted_nos - set(commission.counted_refunds or []):
                flags.add("late_refund")  # reported after the commission became available: it stays
            continue
        if status == "reversed" and effective is not None and now >= effective:
            continue  # past its effective time a reversed commission is final
        if status not in ("frozen", "reversed"):
            continue
        plan_lines = [
            DomainLineRate(li.line_id, int(li.paid_fen), int(li.rate_bp)) for li in commission.lines
        ]
        target = (
            amount_after_refunds(plan_lines, line_refunds(lines, counted))
            if counted
            else int(commission.original_fen)
        )
        if status == "reversed" and target == 0:
            continue  # still nothing (a full refund of its lines always stays here)
        actions: list[Any] = []
        current = int(commission.amount_fen)
        version = int(commission.version or 0)
        if target != current:
            entry = commission_adjustment_key(
                state.order_id, commission.tier, commission.member_id, version + 1
            )
            uow.move(
                Movement(
                    state.shop_id,
                    commission.member_id,
                    entry,
                    "commission_clawback" if target < current else "commission_adjustment",
                    ref=state.order_id,
                    frozen_fen=target - current,
                )
            )
            actions.append(CommissionModel.amount_fen.set(target))
            metrics["Clawbacks"] = metrics.get("Clawbacks", 0) + 1
        if counted_nos != set(commission.counted_refunds or []):
            # Stored whenever the set changes, even when the amount does not (a zero-rate line, rounding):
            # settlement and the late_refund check compare against exactly what was counted.
            actions.append(
                CommissionModel.counted_refunds.set(counted_nos)
                if counted_nos
                else CommissionModel.counted_refunds.remove()
            )
        if target == 0:
            actions += [
                CommissionModel.status.set("reversed"),
                CommissionModel.due_shard.remove(),
                CommissionModel.due_at.remove(),
            ]
        elif status == "reversed":
            # Largest remainder (docs/decisions.md, D-refund-monotone): one more refund can give a line one
            # fen back, so a commission reversed to 0 by rounding comes back, whatever the arrival order.
            actions.append(CommissionModel.status.set("frozen"))
            metrics["CommissionsRestored"] = metrics.get("CommissionsRestored", 0) + 1
        if effective is not None and target > 0 and (known is None or status == "reversed"):
            actions += [
                CommissionModel.due_shard.set(
                    due_shard(state.order_id, commission.tier, commission.member_id)
                ),
                CommissionModel.due_at.set(key(effective)),
            ]
        if known is None and effective is not None:
            actions.append(CommissionModel.effective_at.set(key(effective)))
        if actions:
            actions.append(CommissionModel.version.set(version + 1))
            uow.update(
                f"commission:{commission.tier}",
                CommissionModel(commission.order_key, commission.sk),
                actions=actions,
                condition=version_is(CommissionModel.version, version) & (CommissionModel.status == status),
            )


def _basis(value: str) -> Literal["payment", "completion"]:
    return "payment" if value == "payment" else "completion"


def _update_growth(
    state: OrderState, refunds: list[Refund], uow: UnitOfWork, order_actions: list[Any]
) -> None:
    order = state.order
    assert order is not None
    snapshot = order.snapshot or {}
    if snapshot.get("amount_mismatch") or "growth_coefficient" not in snapshot:
        return
    paid_fen = int(order.paid_fen or 0)
    refunded_total = min(sum(r.amount_fen for r in refunds), paid_fen)
    target = order_growth(paid_fen, refunded_total, parse_coefficient(snapshot["growth_coefficient"]))
    current = int(order.growth_awarded or 0)
    if target != current:
        uow.move(
            Movement(
                state.shop_id,
                str(order.buyer_id),
                order_growth_key(state.order_id, int(order.version or 0) + 1),
                "growth_refund" if target < current else "growth_order",
                ref=state.order_id,
                growth=target - current,
            )
        )
        order_actions.append(OrderModel.growth_awarded.set(target))
