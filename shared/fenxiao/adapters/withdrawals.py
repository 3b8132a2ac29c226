"""WithdrawalsTable (withdrawal_key): "{shop}#{withdrawal}" withdrawals, "{shop}#BILL#{out_bill_no}" bill pointers;
ReviewQueue(review_queue, created_at) sparse; PayoutChecks(check_shard, check_at) sparse, for the reconciler."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta

CHECK_SHARDS = 4  # PayoutChecks partitions


class ReviewQueueIndex(GlobalSecondaryIndex["WithdrawalModel"]):
    class Meta:
        index_name = "ReviewQueue"
        projection = AllProjection()

    review_queue = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PayoutChecksIndex(GlobalSecondaryIndex["WithdrawalModel"]):
    class Meta:
        index_name = "PayoutChecks"
        projection = KeysOnlyProjection()

    check_shard = UnicodeAttribute(hash_key=True)
    check_at = UnicodeAttribute(range_key=True)


class WithdrawalModel(Model):
    class Meta(TableMeta):
        pass

    withdrawal_key = UnicodeAttribute(hash_key=True)
    shop_id = UnicodeAttribute()
    withdrawal_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    amount_fen = NumberAttribute()
    openid = UnicodeAttribute()
    body_hash = UnicodeAttribute()
    status = UnicodeAttribute()  # pending_review | pending | succeeded | failed | rejected
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    out_bill_no = UnicodeAttribute()
    transfer_bill_no = UnicodeAttribute(null=True)
    wx_state = UnicodeAttribute(null=True)
    package_info = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    review_queue = UnicodeAttribute(null=True)
    check_shard = UnicodeAttribute(null=True)
    check_at = UnicodeAttribute(null=True)
    reviewed_at = UnicodeAttribute(null=True)
    submitted_at = UnicodeAttribute(null=True)  # first transfer request sent to WeChat Pay
    checks = NumberAttribute(default=0)  # bill queries made while no final state was known
    failures = NumberAttribute(default=0)  # payout steps in a row that got no usable answer (backoff)
    mchid = UnicodeAttribute(null=True)  # the shop's merchant when requested: every call for the bill uses it
    appid = UnicodeAttribute(null=True)  # the shop's appid when requested (the openid belongs to it)
    attempted_at = UnicodeAttribute(null=True)  # when the last create request was (about to be) sent
    refusal = UnicodeAttribute(null=True)  # "CODE: message" of a verified 4xx, until a late query confirms it

    review_queue_index = ReviewQueueIndex()
    payout_checks = PayoutChecksIndex()


class PayoutBillModel(Model):
    """withdrawal_key = "{shop}#BILL#{out_bill_no}": which withdrawal a WeChat Pay bill pays (a transfer
    notification names only the bill). Written with the withdrawal, in the same transaction; never changes.
    ``#`` is not allowed in withdrawal ids, so these keys never meet a withdrawal's own key."""

    class Meta(TableMeta):
        pass

    withdrawal_key = UnicodeAttribute(hash_key=True)
    withdrawal_id = UnicodeAttribute()
