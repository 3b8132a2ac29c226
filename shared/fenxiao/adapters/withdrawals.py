"""WithdrawalsTable (withdrawal_key): "{shop}#{withdrawal}" withdrawals, "{shop}#BILL#{out_bill_no}" bill pointers;
ReviewQueue(review_queue, created_at) sparse; PayoutChecks(check_shard, check_at) sparse, for the reconciler.

Also the ledger entry keys of a withdrawal's money (``WD#{id}#RESERVE|PAID|RETURN``): one per step, so each
step moves the money once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta, condition_failed, shard_of, version_is
from fenxiao.adapters.tables import bind
from fenxiao.domain.withdrawals import PENDING_REVIEW

if TYPE_CHECKING:
    from fenxiao.adapters.unit_of_work import UnitOfWork

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


class WithdrawalsByMemberIndex(GlobalSecondaryIndex["WithdrawalModel"]):
    class Meta:
        index_name = "WithdrawalsByMember"
        projection = AllProjection()

    member_ref = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


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
    review_reason = UnicodeAttribute(
        null=True
    )  # why it waits beyond the threshold: payee_changed, merchant_changed

    review_queue_index = ReviewQueueIndex()
    payout_checks = PayoutChecksIndex()
    member_ref = UnicodeAttribute(null=True)  # "{shop}#{member}" (WithdrawalsByMember)
    withdrawals_by_member = WithdrawalsByMemberIndex()


class PayoutBillModel(Model):
    """withdrawal_key = "{shop}#BILL#{out_bill_no}": which withdrawal a WeChat Pay bill pays (a transfer
    notification names only the bill). Written with the withdrawal, in the same transaction; never changes.
    ``#`` is not allowed in withdrawal ids, so these keys never meet a withdrawal's own key."""

    class Meta(TableMeta):
        pass

    withdrawal_key = UnicodeAttribute(hash_key=True)
    withdrawal_id = UnicodeAttribute()


# ---------------------------------------------------------------- keys


def withdrawal_key(shop_id: str, withdrawal_id: str) -> str:
    return f"{shop_id}#{withdrawal_id}"


def bill_key(shop_id: str, bill_no: str) -> str:
    return f"{shop_id}#BILL#{bill_no}"


def review_queue(shop_id: str) -> str:
    return f"{shop_id}#{PENDING_REVIEW}"


def check_partition(shard: int) -> str:
    return f"CHECK#{shard}"


def check_shard(withdrawal_id: str) -> str:
    return check_partition(shard_of(withdrawal_id, CHECK_SHARDS))


def ledger_entry_key(withdrawal_id: str, step: Literal["RESERVE", "PAID", "RETURN"]) -> str:
    """RESERVE (available -> withdrawing), PAID (-> withdrawn), RETURN (-> available)."""
    return f"WD#{withdrawal_id}#{step}"


# ---------------------------------------------------------------- reads


def load(shop_id: str, withdrawal_id: str) -> WithdrawalModel | None:
    try:
        return WithdrawalModel.get(withdrawal_key(shop_id, withdrawal_id), consistent_read=True)
    except WithdrawalModel.DoesNotExist:
        return None


def withdrawal_of_bill(shop_id: str, bill_no: str) -> str | None:
    """The id of the withdrawal the shop's bill pays (None: no such bill of ours)."""
    try:
        return PayoutBillModel.get(bill_key(shop_id, bill_no), consistent_read=True).withdrawal_id
    except PayoutBillModel.DoesNotExist:
        return None


def review_scope(shop_id: str) -> dict[str, str]:
    """What the last key of a review-queue page of this shop holds (a cursor is checked against it)."""
    return {"review_queue": review_queue(shop_id)}


def review_page(
    shop_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[WithdrawalModel], dict[str, Any] | None]:
    """One page of the shop's review queue, oldest first, and the key to go on from (None: the end)."""
    result = WithdrawalModel.review_queue_index.query(
        review_queue(shop_id), limit=limit, last_evaluated_key=start
    )
    return list(result), result.last_evaluated_key


def review_queue_length(shop_id: str) -> int:
    """How many withdrawals wait for review (one COUNT Query of the shop's ReviewQueue partition)."""
    return int(WithdrawalModel.review_queue_index.count(review_queue(shop_id)))


def due_checks(
    shard: int, due_by: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """One page of the (shop_id, withdrawal_id) in PayoutChecks shard ``shard`` whose ``check_at`` is at or
    before ``due_by``, and the key to go on from (None: the shard is done)."""
    result = WithdrawalModel.payout_checks.query(
        check_partition(shard), WithdrawalModel.check_at <= due_by, limit=limit, last_evaluated_key=start
    )
    due = []
    for item in result:
        shop_id, _, withdrawal_id = item.withdrawal_key.partition("#")
        due.append((shop_id, withdrawal_id))
    return due, result.last_evaluated_key


def member_ref(shop_id: str, member_id: str) -> str:
    return f"{shop_id}#{member_id}"


def member_scope(shop_id: str, member_id: str) -> dict[str, str]:
    """What the last key of a page of the member's withdrawals holds (a cursor is checked against it)."""
    return {"member_ref": member_ref(shop_id, member_id)}


def member_page(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[WithdrawalModel], dict[str, Any] | None]:
    """One page of the member's withdrawals, newest first (WithdrawalsByMember), and the key to go on from."""
    result = WithdrawalModel.withdrawals_by_member.query(
        member_ref(shop_id, member_id), scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    return list(result), result.last_evaluated_key


# ---------------------------------------------------------------- writes


def new_withdrawal(shop_id: str, withdrawal_id: str, **attributes: Any) -> WithdrawalModel:
    return WithdrawalModel(
        withdrawal_key(shop_id, withdrawal_id),
        shop_id=shop_id,
        withdrawal_id=withdrawal_id,
        member_ref=member_ref(shop_id, attributes["member_id"]),
        **attributes,
    )


def add_new(uow: UnitOfWork, w: WithdrawalModel) -> None:
    """Write a new withdrawal and its bill pointer in ``uow``, each only if its key is new (labels
    ``withdrawal`` and ``bill``)."""
    uow.save("withdrawal", w, condition=WithdrawalModel.withdrawal_key.does_not_exist())
    uow.save(
        "bill",
        PayoutBillModel(bill_key(w.shop_id, w.out_bill_no), withdrawal_id=w.withdrawal_id),
        condition=PayoutBillModel.withdrawal_key.does_not_exist(),
    )


def unchanged(status: str, version: int) -> Condition:
    """The withdrawal still has ``status`` and the version it was read at."""
    condition: Condition = (WithdrawalModel.status == status) & version_is(WithdrawalModel.version, version)
    return condition


def update_if(w: WithdrawalModel, actions: list[Any], condition: Condition) -> bool:
    """One conditional update of the withdrawal; False (nothing written) when the condition did not hold."""
    try:
        WithdrawalModel(w.withdrawal_key).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


# Last, after every subclass: the tables this module's models are stored in.
bind(WithdrawalModel, "withdrawals_table")
bind(PayoutBillModel, "withdrawals_table")
