"""OrdersTable (order_key, sk): one partition per order: ORDER, PAY#, REFUND#, COMM#;
CommissionsByMember(beneficiary, paid_sort) newest first; DueCommissions(due_shard, due_at) sparse, for settlement.

First the table's access patterns (key formats, the one-query load of an order's partition, the index
queries, the conditional writes), then its items (the PynamoDB models)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pynamodb.attributes import (
    DiscriminatorAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta, shard_of, written
from fenxiao.adapters.ledger import account
from fenxiao.adapters.tables import bind
from fenxiao.domain.refunds import OrderLine, Refund
from fenxiao.timefmt import from_key

if TYPE_CHECKING:  # the rules themselves are the order worker's, not the notification path's
    from fenxiao.domain.commission import CommissionPlan

DUE_SHARDS = 8  # DueCommissions partitions: spreads settlement's index writes and reads
BATCH_GET_MAX = 100  # DynamoDB's limit on one BatchGetItem


# ---------------------------------------------------------------- keys


def order_key(shop_id: str, order_id: str) -> str:
    """The partition of one order."""
    return f"{shop_id}#{order_id}"


def payment_sk(transaction_id: str) -> str:
    return f"PAY#{transaction_id}"


REFUND_PREFIX = "REFUND#"


def refund_sk(out_refund_no: str) -> str:
    return f"{REFUND_PREFIX}{out_refund_no}"


def commission_sk(tier: str, member_id: str) -> str:
    return f"COMM#{tier}#{member_id}"


def due_shard_name(index: int) -> str:
    """DueCommissions partition number ``index`` (``0 <= index < DUE_SHARDS``)."""
    return f"DUE#{index}"


def due_shard(order_id: str, tier: str, member_id: str) -> str:
    """The DueCommissions partition of one commission."""
    return due_shard_name(shard_of(f"{order_id}#{tier}#{member_id}", DUE_SHARDS))


def beneficiary(shop_id: str, member_id: str) -> str:
    """CommissionsByMember's partition of one member: the member's ledger account."""
    return account(shop_id, member_id)


def paid_sort(paid_at: str, order_id: str, tier: str) -> str:
    """CommissionsByMember's sort key: by payment time (``timefmt.key``), then order and tier."""
    return f"{paid_at}#{order_id}#{tier}"


# ---------------------------------------------------------------- an order's partition, read at once


@dataclass
class OrderState:
    """Everything stored about one order, read with one Query."""

    shop_id: str
    order_id: str
    order: OrderModel | None = None
    payments: list[PaymentModel] = field(default_factory=list)  # oldest first (success_time)
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

    def refund(self, out_refund_no: str) -> RefundModel | None:
        return next((r for r in self.refunds if r.out_refund_no == out_refund_no), None)

    def reported_refunds(self) -> list[Refund]:
        """The refunds WeChat Pay reported (a split registered alone has no effect yet)."""
        return reported(self.refunds)


def reported(refunds: Iterable[RefundModel]) -> list[Refund]:
    """The refunds among ``refunds`` that WeChat Pay reported, as the domain reads them."""
    out = []
    for r in refunds:
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


def reported_refunds(shop_id: str, order_id: str) -> list[Refund]:
    """The order's refunds WeChat Pay reported: one strongly consistent Query of its REFUND# items only."""
    items = OrderItem.query(
        order_key(shop_id, order_id), OrderItem.sk.startswith(REFUND_PREFIX), consistent_read=True
    )
    return reported(item for item in items if isinstance(item, RefundModel))


# ---------------------------------------------------------------- the indexes


def member_commissions(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[CommissionModel], dict[str, Any] | None]:
    """One page of a member's commissions, newest payment first (CommissionsByMember), from ``start`` (a
    LastEvaluatedKey of this query); with the LastEvaluatedKey to continue from, None at the end."""
    result = CommissionModel.commissions_by_member.query(
        beneficiary(shop_id, member_id), scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    commissions = [c for c in result if isinstance(c, CommissionModel)]
    return commissions, result.last_evaluated_key


def due_commission_keys(
    shard: int, due_by: str, limit: int, start: dict[str, Any] | None
) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """Up to ``limit`` (order_key, sk) of frozen commissions in DueCommissions shard ``shard`` whose effective
    time is at or before ``due_by``, from ``start``; with the LastEvaluatedKey, None when the shard is done."""
    result = CommissionModel.due_commissions.query(
        due_shard_name(shard), CommissionModel.due_at <= due_by, limit=limit, last_evaluated_key=start
    )
    keys = [(item.order_key, item.sk) for item in result]
    return keys, result.last_evaluated_key


def get_commissions(keys: Sequence[tuple[str, str]]) -> list[CommissionModel]:
    """The commissions with these (order_key, sk), strongly consistent, in no particular order."""
    out: list[CommissionModel] = []
    for begin in range(0, len(keys), BATCH_GET_MAX):
        chunk = keys[begin : begin + BATCH_GET_MAX]
        out.extend(
            item
            for item in OrderItem.batch_get(chunk, consistent_read=True)
            if isinstance(item, CommissionModel)
        )
    return out


# ---------------------------------------------------------------- writes


def register_order(
    shop_id: str,
    order_id: str,
    *,
    buyer_id: str,
    lines: Sequence[OrderLine],
    shipping_fen: int,
    total_fen: int,
    body_hash: str,
    registered_at: str,
) -> bool:
    """Store the ORDER item once. False, nothing written, when the order is already registered."""
    item = OrderModel(
        order_key(shop_id, order_id),
        OrderModel.SK,
        shop_id=shop_id,
        order_id=order_id,
        buyer_id=buyer_id,
        lines=[
            LineMap(line_id=li.line_id, product_id=li.product_id, quantity=li.quantity, paid_fen=li.paid_fen)
            for li in lines
        ],
        shipping_fen=shipping_fen,
        total_fen=total_fen,
        body_hash=body_hash,
        registered_at=registered_at,
    )
    return written(lambda: item.save(condition=OrderModel.sk.does_not_exist()))


def mark_completed(shop_id: str, order_id: str, completed_at: str) -> bool:
    """Set the registered order's completion time once. False when it was already set."""
    return written(
        lambda: order_item(shop_id, order_id).update(
            actions=[OrderModel.completed_at.set(completed_at)],
            condition=OrderModel.completed_at.does_not_exist() & OrderModel.sk.exists(),
        )
    )


def put_refund_split(
    shop_id: str, order_id: str, out_refund_no: str, split: Sequence[tuple[str, int]], split_at: str
) -> bool:
    """Register the mall's line split on ``REFUND#{out_refund_no}``, once and only before WeChat Pay reported
    the refund. False, nothing written, when a split or the refund is already there."""
    item = RefundModel(order_key(shop_id, order_id), refund_sk(out_refund_no))
    actions: list[Action] = [
        RefundModel.item_type.set(RefundModel.item_type | RefundModel),
        RefundModel.out_refund_no.set(out_refund_no),
        RefundModel.split.set([RefundLineMap(line_id=lid, refund_fen=amt) for lid, amt in split]),
        RefundModel.split_at.set(split_at),
    ]
    condition = RefundModel.refund_id.does_not_exist() & RefundModel.split.does_not_exist()
    return written(lambda: item.update(actions=actions, condition=condition))


def order_item(shop_id: str, order_id: str) -> OrderModel:
    """The ORDER item's key, to update it (alone or in a unit of work)."""
    return OrderModel(order_key(shop_id, order_id), OrderModel.SK)


def new_commission(
    shop_id: str,
    order_id: str,
    plan: CommissionPlan,
    *,
    amount_fen: int,
    basis: str,
    freeze_days: int,
    paid_at: str,
    effective_at: str | None,
    counted_refunds: set[str],
) -> CommissionModel:
    """A commission as the payment creates it (written once: ``sk.does_not_exist()``): ``frozen``, in the
    DueCommissions index when its effective time is known, or ``reversed`` when refunds already took it all."""
    status = "frozen" if amount_fen > 0 else "reversed"
    commission = CommissionModel(
        order_key(shop_id, order_id),
        commission_sk(plan.tier, plan.member_id),
        shop_id=shop_id,
        order_id=order_id,
        tier=plan.tier,
        member_id=plan.member_id,
        lines=[
            CommissionLineMap(line_id=li.line_id, paid_fen=li.paid_fen, rate_bp=li.rate_bp)
            for li in plan.lines
        ],
        original_fen=plan.amount_fen,
        amount_fen=amount_fen,
        status=status,
        basis=basis,
        freeze_days=freeze_days,
        paid_at=paid_at,
        effective_at=effective_at,
        version=0,
        beneficiary=beneficiary(shop_id, plan.member_id),
        paid_sort=paid_sort(paid_at, order_id, plan.tier),
        counted_refunds=counted_refunds or None,
    )
    if status == "frozen" and effective_at is not None:
        commission.due_shard = due_shard(order_id, plan.tier, plan.member_id)
        commission.due_at = effective_at
    return commission


class CommissionsByMemberIndex(GlobalSecondaryIndex["OrderItem"]):
    class Meta:
        index_name = "CommissionsByMember"
        projection = AllProjection()

    beneficiary = UnicodeAttribute(hash_key=True)
    paid_sort = UnicodeAttribute(range_key=True)


class DueCommissionsIndex(GlobalSecondaryIndex["OrderItem"]):
    class Meta:
        index_name = "DueCommissions"
        # item_type lets PynamoDB build the right model class; it never changes, so no extra index writes.
        projection = IncludeProjection(["item_type"])

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class OrderItem(Model):
    """Base of the items of one order's partition."""

    class Meta(TableMeta):
        pass

    order_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()

    commissions_by_member = CommissionsByMemberIndex()
    due_commissions = DueCommissionsIndex()


class LineMap(MapAttribute[str, Any]):
    line_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    quantity = NumberAttribute()
    paid_fen = NumberAttribute()


class OrderModel(OrderItem, discriminator="order"):
    """sk = ORDER: the order as the mall registered it, and what was derived from its facts."""

    SK: ClassVar[str] = "ORDER"

    shop_id = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)
    buyer_id = UnicodeAttribute(null=True)
    lines = ListAttribute(of=LineMap, null=True)
    shipping_fen = NumberAttribute(null=True)
    total_fen = NumberAttribute(null=True)
    body_hash = UnicodeAttribute(null=True)
    registered_at = UnicodeAttribute(null=True)
    completed_at = UnicodeAttribute(null=True)
    # Set when the payment was applied (exactly once, conditional on attribute_not_exists).
    applied_transaction_id = UnicodeAttribute(null=True)
    paid_fen = NumberAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    refunded_fen = NumberAttribute(default=0)
    flags = UnicodeSetAttribute(null=True)
    snapshot = JSONAttribute(null=True)  # rules as they stood at the payment (settlement, growth coefficient)
    growth_awarded = NumberAttribute(null=True)  # the buyer's growth from this order, as last written
    version = NumberAttribute(default=0)


class PaymentModel(OrderItem, discriminator="payment"):
    """sk = PAY#{transaction_id}: a verified TRANSACTION.SUCCESS."""

    transaction_id = UnicodeAttribute()
    total_fen = NumberAttribute()
    payer_total_fen = NumberAttribute()
    success_time = UnicodeAttribute()
    mchid = UnicodeAttribute(null=True)
    appid = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute()


class RefundLineMap(MapAttribute[str, Any]):
    line_id = UnicodeAttribute()
    refund_fen = NumberAttribute()


class RefundModel(OrderItem, discriminator="refund"):
    """sk = REFUND#{out_refund_no}: the mall's optional line split and/or WeChat Pay's REFUND.SUCCESS."""

    out_refund_no = UnicodeAttribute()
    split = ListAttribute(of=RefundLineMap, null=True)
    split_at = UnicodeAttribute(null=True)
    refund_id = UnicodeAttribute(null=True)
    amount_fen = NumberAttribute(null=True)
    success_time = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute(null=True)


class CommissionLineMap(MapAttribute[str, Any]):
    line_id = UnicodeAttribute()
    paid_fen = NumberAttribute()
    rate_bp = NumberAttribute()


class CommissionModel(OrderItem, discriminator="commission"):
    """sk = COMM#{tier}#{member}: one commission, exactly one per (order, tier, beneficiary)."""

    shop_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    tier = UnicodeAttribute()
    member_id = UnicodeAttribute()
    lines = ListAttribute(of=CommissionLineMap)
    original_fen = NumberAttribute()
    amount_fen = NumberAttribute()
    status = UnicodeAttribute()  # frozen | available | reversed
    basis = UnicodeAttribute()
    freeze_days = NumberAttribute()
    paid_at = UnicodeAttribute()
    effective_at = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)
    beneficiary = UnicodeAttribute()
    paid_sort = UnicodeAttribute()
    due_shard = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)
    counted_refunds = UnicodeSetAttribute(null=True)  # out_refund_no of the refunds the amount reflects
    released_at = UnicodeAttribute(null=True)


# ---------------------------------------------------------------- WeChat Pay's facts (service.notifications)


def save_payment_fact(
    shop_id: str,
    order_id: str,
    *,
    transaction_id: str,
    total_fen: int,
    payer_total_fen: int,
    success_time: str,
    mchid: str | None,
    appid: str | None,
    received_at: str,
) -> None:
    """``PAY#{transaction_id}`` in the order's partition, written once (a redelivery writes nothing)."""
    payment = PaymentModel(
        order_key(shop_id, order_id),
        payment_sk(transaction_id),
        transaction_id=transaction_id,
        total_fen=total_fen,
        payer_total_fen=payer_total_fen,
        success_time=success_time,
        mchid=mchid,
        appid=appid,
        received_at=received_at,
    )
    written(lambda: payment.save(condition=PaymentModel.sk.does_not_exist()))


def save_refund_fact(
    shop_id: str,
    order_id: str,
    *,
    out_refund_no: str,
    refund_id: str,
    amount_fen: int,
    success_time: str,
    received_at: str,
) -> bool:
    """WeChat Pay's refund on ``REFUND#{out_refund_no}`` (beside the mall's split, if it came first; the first
    received_at stays). False, nothing written, when that out_refund_no already names another refund_id."""
    refund = RefundModel(order_key(shop_id, order_id), refund_sk(out_refund_no))
    return written(
        lambda: refund.update(
            actions=[
                RefundModel.item_type.set(RefundModel.item_type | RefundModel),
                RefundModel.out_refund_no.set(out_refund_no),
                RefundModel.refund_id.set(refund_id),
                RefundModel.amount_fen.set(amount_fen),
                RefundModel.success_time.set(success_time),
                RefundModel.received_at.set(RefundModel.received_at | received_at),
            ],
            condition=RefundModel.refund_id.does_not_exist() | (RefundModel.refund_id == refund_id),
        )
    )


# Last, after every subclass: the tables this module's models are stored in.
bind(OrderItem, "orders_table")
