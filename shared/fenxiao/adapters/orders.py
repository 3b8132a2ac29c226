"""OrdersTable (order_key, sk): one partition per order: ORDER, PAY#, REFUND#, COMM#;
CommissionsByMember(beneficiary, paid_sort) newest first; DueCommissions(due_shard, due_at) sparse, for settlement."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import (
    DiscriminatorAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta

DUE_SHARDS = 8  # DueCommissions partitions: spreads settlement's index writes and reads


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
    from pynamodb.exceptions import PutError

    from fenxiao.adapters.dynamo import condition_failed

    try:
        PaymentModel(
            f"{shop_id}#{order_id}",
            f"PAY#{transaction_id}",
            transaction_id=transaction_id,
            total_fen=total_fen,
            payer_total_fen=payer_total_fen,
            success_time=success_time,
            mchid=mchid,
            appid=appid,
            received_at=received_at,
        ).save(condition=PaymentModel.sk.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise


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
    from pynamodb.exceptions import UpdateError

    from fenxiao.adapters.dynamo import condition_failed

    try:
        RefundModel(f"{shop_id}#{order_id}", f"REFUND#{out_refund_no}").update(
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
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True
