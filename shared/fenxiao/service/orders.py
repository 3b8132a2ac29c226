"""Orders from the mall: registration, completion, refund line splits, and the order view.

One order = one partition of OrdersTable (``{shop}#{order}``): the ORDER item as registered, the payment
facts (``PAY#``) and refund facts (``REFUND#``) as WeChat Pay reported them, and the commissions
(``COMM#``). Each write here is conditional on a business key, then the order is nudged on the order
queue; the consumer (service.reconcile) re-reads the partition and converges.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from fenxiao.adapters.orders import (
    CommissionModel,
    LineMap,
    OrderItem,
    OrderModel,
    PaymentModel,
    RefundLineMap,
    RefundModel,
)
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from fenxiao.domain.refunds import OrderLine, Refund, line_refunds
from fenxiao.schemas.orders import OrderIn, RefundSplitIn
from fenxiao.timefmt import from_key, key, rfc3339_from_key


def order_key(shop_id: str, order_id: str) -> str:
    return f"{shop_id}#{order_id}"


@dataclass
class OrderState:
    """Everything stored about one order, read with one Query."""

    shop_id: str
    order_id: str
    order: OrderModel | None = None
    payments: list[PaymentModel] = field(default_factory=list)
    refunds: list[RefundModel] = field(default_factory=list)
    commissions: list[CommissionModel] = field(default_factory=list)

    @property
    def lines(self) -> list[OrderLine]:
        assert self.order is not None
        return [
            OrderLine(
                line_id=li.line_id,
                product_id=li.product_id,
                quantity=int(li.quantity),
                paid_fen=int(li.paid_fen),
            )
            for li in self.order.lines or []
        ]

    def reported_refunds(self) -> list[Refund]:
        """The refunds WeChat Pay reported (a split registered alone has no effect yet)."""
        out = []
        for r in self.refunds:
            if r.refund_id and r.amount_fen is not None and r.success_time:
                split = {s.line_id: int(s.refund_fen) for s in r.split} if r.split else None
                out.append(
                    Refund(
                        out_refund_no=r.out_refund_no,
                        amount_fen=int(r.amount_fen),
                        success_time=from_key(r.success_time),
                        split=split,
                    )
                )
        return out


def load_order(shop_id: str, order_id: str, consistent: bool = True) -> OrderState:
    state = OrderState(shop_id, order_id)
    for item in OrderItem.query(order_key(shop_id, order_id), consistent_read=consistent):
        if isinstance(item, OrderModel):
            state.order = item
        elif isinstance(item, PaymentModel):
            state.payments.append(item)
        elif isinstance(item, RefundModel):
            state.refunds.append(item)
        elif isinstance(item, CommissionModel):
            state.commissions.append(item)
    state.payments.sort(key=lambda p: (p.success_time, p.transaction_id))
    return state


def nudge(c: Container, shop_id: str, order_id: str) -> None:
    c.queues.send("order", {"shop_id": shop_id, "order_id": order_id})


# ---------------------------------------------------------------- registration


def _body_hash(body: OrderIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def register_order(
    c: Container, shop_id: str, order_id: str, body: OrderIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Store the order once. Same body again: 200; a different body for the same id: 409."""
    digest = _body_hash(body)
    item = OrderModel(
        order_key(shop_id, order_id),
        OrderModel.SK,
        shop_id=shop_id,
        order_id=order_id,
        buyer_id=body.buyer_id,
        lines=[
            LineMap(line_id=li.line_id, product_id=li.product_id, quantity=li.quantity, paid_fen=li.paid_fen)
            for li in body.lines
        ],
        shipping_fen=body.shipping_fen,
        total_fen=body.total_fen,
        body_hash=digest,
        registered_at=key(now),
    )
    status = 201
    try:
        item.save(condition=OrderModel.sk.does_not_exist())
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        existing = load_order(shop_id, order_id).order
        if existing is None or existing.body_hash != digest:
            raise Conflict(
                f"order {order_id} is already registered with a different body", code="order_conflict"
            ) from None
        status = 200
    nudge(c, shop_id, order_id)
    return status, order_view(load_order(shop_id, order_id))


# ---------------------------------------------------------------- completion


def complete_order(c: Container, shop_id: str, order_id: str, now: datetime) -> dict[str, Any]:
    state = load_order(shop_id, order_id)
    if state.order is None:
        raise NotFound(f"order {order_id} is not registered", code="order_not_found")
    if not state.payments:
        raise RuleViolation(f"order {order_id} is not paid yet", code="order_not_paid")
    if state.order.completed_at is None:
        try:
            OrderModel(order_key(shop_id, order_id), OrderModel.SK).update(
                actions=[OrderModel.completed_at.set(key(now))],
                condition=OrderModel.completed_at.does_not_exist() & OrderModel.sk.exists(),
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        nudge(c, shop_id, order_id)
    return order_view(load_order(shop_id, order_id))


# ---------------------------------------------------------------- refund line splits


def put_refund_split(
    c: Container, shop_id: str, order_id: str, out_refund_no: str, body: RefundSplitIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Register which lines a coming refund takes its money from. Immutable once registered."""
    state = load_order(shop_id, order_id)
    if state.order is None:
        raise NotFound(f"order {order_id} is not registered", code="order_not_found")
    wanted = [(s.line_id, s.refund_fen) for s in body.lines]
    existing = next((r for r in state.refunds if r.out_refund_no == out_refund_no), None)
    if existing is not None:
        # The same split again is answered as registered, whatever refunds took effect since (a retry).
        return _split_conflict(existing, wanted, order_id, out_refund_no)
    lines = {li.line_id: li for li in state.lines}
    others = [r for r in state.reported_refunds() if r.out_refund_no != out_refund_no]
    refunded = line_refunds(state.lines, others)
    for i, (line_id, amount) in enumerate(wanted):
        if line_id not in lines:
            field_name = f"lines[{i}].line_id"
            raise InvalidInput(
                f"{field_name}: the order has no line {line_id}", code="unknown_line", field=field_name
            )
        left = lines[line_id].paid_fen - refunded.get(line_id, 0)
        if amount > left:
            field_name = f"lines[{i}].refund_fen"
            raise RuleViolation(
                f"{field_name}: {amount} exceeds what line {line_id} has left ({left})",
                code="refund_exceeds_line",
                field=field_name,
            )
    try:
        RefundModel(order_key(shop_id, order_id), f"REFUND#{out_refund_no}").update(
            actions=[
                RefundModel.item_type.set(RefundModel.item_type | RefundModel),
                RefundModel.out_refund_no.set(out_refund_no),
                RefundModel.split.set([RefundLineMap(line_id=lid, refund_fen=amt) for lid, amt in wanted]),
                RefundModel.split_at.set(key(now)),
            ],
            condition=RefundModel.refund_id.does_not_exist() & RefundModel.split.does_not_exist(),
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        fresh = next(
            (r for r in load_order(shop_id, order_id).refunds if r.out_refund_no == out_refund_no), None
        )
        assert fresh is not None
        return _split_conflict(fresh, wanted, order_id, out_refund_no)
    return 201, _refund_view(order_id, out_refund_no, wanted, None)


def _split_conflict(
    existing: RefundModel, wanted: list[tuple[str, int]], order_id: str, out_refund_no: str
) -> tuple[int, dict[str, Any]]:
    stored = [(s.line_id, int(s.refund_fen)) for s in existing.split or []]
    if existing.split and stored == wanted:
        return 200, _refund_view(order_id, out_refund_no, stored, existing)
    if existing.refund_id:
        raise Conflict(f"refund {out_refund_no} already took effect", code="refund_already_effective")
    raise Conflict(f"refund {out_refund_no} already has a different split", code="split_conflict")


def _refund_view(
    order_id: str, out_refund_no: str, split: list[tuple[str, int]], item: RefundModel | None
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "out_refund_no": out_refund_no,
        "lines": [{"line_id": lid, "refund_fen": amt} for lid, amt in split],
        "status": "succeeded" if item is not None and item.refund_id else "registered",
    }


# ---------------------------------------------------------------- the order view


def get_order(shop_id: str, order_id: str) -> dict[str, Any]:
    state = load_order(shop_id, order_id, consistent=False)
    if state.order is None:
        raise NotFound(f"order {order_id} is not registered", code="order_not_found")
    return order_view(state)


def order_view(state: OrderState) -> dict[str, Any]:
    order = state.order
    assert order is not None
    paid = order.applied_transaction_id is not None
    status = "registered"
    if paid:
        status = "completed" if order.completed_at else "paid"
    refunded = sum(r.amount_fen for r in state.reported_refunds())
    return {
        "order_id": state.order_id,
        "buyer_id": order.buyer_id,
        "status": status,
        "total_fen": int(order.total_fen or 0),
        "paid_fen": int(order.paid_fen) if order.paid_fen is not None else None,
        "refunded_fen": refunded,
        "paid_at": rfc3339_from_key(order.paid_at),
        "completed_at": rfc3339_from_key(order.completed_at) if paid else None,
        "flags": sorted(order.flags or []),
        "commissions": [
            commission_view(c) for c in sorted(state.commissions, key=lambda c: _TIERS.index(c.tier))
        ],
    }


_TIERS = ["level1", "level2", "self"]


def commission_view(c: CommissionModel) -> dict[str, Any]:
    return {
        "order_id": c.order_id,
        "member_id": c.member_id,
        "tier": c.tier,
        "amount_fen": int(c.amount_fen),
        "status": c.status,
        "effective_at": rfc3339_from_key(c.effective_at),
    }


def member_commissions(shop_id: str, member_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """A member's commissions, newest first (by payment time), one page."""
    from fenxiao.adapters.ledger import account
    from fenxiao.api import cursor as cursors

    beneficiary = account(shop_id, member_id)
    start = cursors.decode(cursor, expect={"beneficiary": beneficiary})
    result = CommissionModel.commissions_by_member.query(
        beneficiary, scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    entries = [commission_view(c) for c in result if isinstance(c, CommissionModel)]
    return {"entries": entries, "next_cursor": cursors.encode(result.last_evaluated_key)}
