"""Orders from the mall: registration, completion, refund line splits, and the order view.

One order = one partition of OrdersTable (``{shop}#{order}``): the ORDER item as registered, the payment
facts (``PAY#``) and refund facts (``REFUND#``) as WeChat Pay reported them, and the commissions
(``COMM#``). Each write here is conditional on a business key, then the order is nudged on the order
queue; the consumer (service.reconcile) re-reads the partition and converges.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fenxiao.adapters import orders as orders_table
from fenxiao.adapters.orders import CommissionModel, OrderState, RefundModel, load_order
from fenxiao.bootstrap import Container
from fenxiao.domain.errors import Conflict, NotFound, RuleViolation
from fenxiao.domain.refunds import parse_split
from fenxiao.timefmt import key, rfc3339_from_key

if TYPE_CHECKING:  # the routes validate the bodies; a payment notification only nudges
    from fenxiao.schemas.orders import OrderIn, RefundSplitIn


@dataclass(frozen=True)
class Stored:
    """What a registration answers: the view, and whether this call stored it (False: the same was there)."""

    created: bool
    view: dict[str, Any]


def nudge(c: Container, shop_id: str, order_id: str) -> None:
    c.queues.send("order", {"shop_id": shop_id, "order_id": order_id})


# ---------------------------------------------------------------- registration


def _body_hash(body: OrderIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def register_order(c: Container, shop_id: str, order_id: str, body: OrderIn, now: datetime) -> Stored:
    """Store the order once. Same body again: not created; a different body for the same id: Conflict."""
    digest = _body_hash(body)
    created = orders_table.register_order(
        shop_id,
        order_id,
        buyer_id=body.buyer_id,
        lines=body.order_lines(),
        shipping_fen=body.shipping_fen,
        total_fen=body.total_fen,
        body_hash=digest,
        registered_at=key(now),
    )
    state = load_order(shop_id, order_id)
    if not created and (state.order is None or state.order.body_hash != digest):
        raise Conflict(f"order {order_id} is already registered with a different body", code="order_conflict")
    if state.payments:
        # Only a payment stored before the order waits for this nudge: one stored after this (consistent)
        # read is followed by its own nudge, whose run finds the order.
        nudge(c, shop_id, order_id)
    return Stored(created, order_view(state))


# ---------------------------------------------------------------- completion


def complete_order(c: Container, shop_id: str, order_id: str, now: datetime) -> dict[str, Any]:
    state = load_order(shop_id, order_id)
    if state.order is None:
        raise NotFound(f"order {order_id} is not registered", code="order_not_found")
    if not state.payments:
        raise RuleViolation(f"order {order_id} is not paid yet", code="order_not_paid")
    if state.order.completed_at is None:
        orders_table.mark_completed(shop_id, order_id, key(now))
        nudge(c, shop_id, order_id)
    return order_view(load_order(shop_id, order_id))


# ---------------------------------------------------------------- refund line splits


def put_refund_split(
    c: Container, shop_id: str, order_id: str, out_refund_no: str, body: RefundSplitIn, now: datetime
) -> Stored:
    """Register which lines a coming refund takes its money from. Immutable once registered."""
    state = load_order(shop_id, order_id)
    if state.order is None:
        raise NotFound(f"order {order_id} is not registered", code="order_not_found")
    wanted = body.entries()
    existing = state.refund(out_refund_no)
    if existing is not None:
        # The same split again is answered as registered, whatever refunds took effect since (a retry).
        return _split_conflict(existing, wanted, order_id, out_refund_no)
    split = list(parse_split(state.lines, wanted, state.reported_refunds()).items())
    if not orders_table.put_refund_split(shop_id, order_id, out_refund_no, split, key(now)):
        fresh = load_order(shop_id, order_id).refund(out_refund_no)
        assert fresh is not None
        return _split_conflict(fresh, wanted, order_id, out_refund_no)
    return Stored(True, _refund_view(order_id, out_refund_no, split, None))


def _split_conflict(
    existing: RefundModel, wanted: list[tuple[str, int]], order_id: str, out_refund_no: str
) -> Stored:
    stored = [(s.line_id, int(s.refund_fen)) for s in existing.split or []]
    if existing.split and stored == wanted:
        return Stored(False, _refund_view(order_id, out_refund_no, stored, existing))
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


def commission_cursor_scope(shop_id: str, member_id: str) -> dict[str, str]:
    """The key attribute a cursor of :func:`member_commissions` carries: it cannot be replayed on another
    member."""
    return {"beneficiary": orders_table.beneficiary(shop_id, member_id)}


def member_commissions(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A member's commissions, newest first (by payment time), one page from ``start``: the entries and
    where the next page starts (None at the end)."""
    commissions, last_key = orders_table.member_commissions(shop_id, member_id, start, limit)
    return [commission_view(c) for c in commissions], last_key
