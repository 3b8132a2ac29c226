"""DynamoDB storage: every PynamoDB model of fenxiao lives here, with its keys and access patterns.

Table names come from the environment (``bind_tables``), never at import. Each access pattern used by the
services is named below and backed by a key or an index declared in ``template.yaml``:

ShopsTable        shop_id                          get shop; AllShops(kind, shop_id) lists shops for jobs
ConfigTable       config_key, effective_at         newest version <= t ("configuration as it stood at t")
MembersTable      member_key, sk                   META (state and balances), BIND#t (binding history),
                                                   DIST#t (distributor grants/revocations);
                                                   MembersByShop(shop_id, member_id) pages a shop's members
OrdersTable       order_key, sk                    one partition per order: ORDER, PAY#, REFUND#, COMM#;
                                                   CommissionsByMember(beneficiary, paid_sort) newest first;
                                                   DueCommissions(due_shard, due_at) sparse, for settlement
LedgerTable       account, entry_key               append-only money and growth entries, unique business key
WithdrawalsTable  withdrawal_key                   "{shop}#{withdrawal}" withdrawals, "{shop}#BILL#{out_bill_no}" bill pointers;
                                                   ReviewQueue(review_queue, created_at) sparse;
                                                   PayoutChecks(check_shard, check_at) sparse, for the reconciler
LeaderboardTable  board_key, sk                    score counters per shard; BoardRanking(board_key, score)
NotificationsTable shop_id, sk                     notifications recorded without effect
"""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from fenxiao.config import Settings

DUE_SHARDS = 8  # DueCommissions partitions: spreads settlement's index writes and reads
CHECK_SHARDS = 4  # PayoutChecks partitions
BOARD_SHARDS = 4  # leaderboard counter partitions per (shop, board, period)


class _Meta:
    table_name = "unbound"
    region = "us-east-1"
    billing_mode = "PAY_PER_REQUEST"
    max_retry_attempts = 3
    connect_timeout_seconds = 5
    read_timeout_seconds = 10


# ---------------------------------------------------------------- shops and configuration


class AllShopsIndex(GlobalSecondaryIndex["ShopModel"]):
    class Meta:
        index_name = "AllShops"
        projection = KeysOnlyProjection()

    kind = UnicodeAttribute(hash_key=True)
    shop_id = UnicodeAttribute(range_key=True)


class PlatformKeyMap(MapAttribute[str, Any]):
    serial = UnicodeAttribute()
    pem = UnicodeAttribute()


class ShopModel(Model):
    class Meta(_Meta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="shop")
    name = UnicodeAttribute()
    api_secret_ct = BinaryAttribute(legacy_encoding=False)
    # After a rotation the previous secret stays valid until ``api_secret_prev_until`` (UTC key).
    api_secret_prev_ct = BinaryAttribute(legacy_encoding=False, null=True)
    api_secret_prev_until = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    # WeChat Pay: non-secret fields in clear, secrets KMS-encrypted (``*_ct``).
    wx_mchid = UnicodeAttribute(null=True)
    wx_appid = UnicodeAttribute(null=True)
    wx_merchant_serial = UnicodeAttribute(null=True)
    wx_platform_keys = ListAttribute(of=PlatformKeyMap, null=True)
    wx_apiv3_key_ct = BinaryAttribute(legacy_encoding=False, null=True)
    wx_merchant_key_ct = BinaryAttribute(legacy_encoding=False, null=True)
    wx_updated_at = UnicodeAttribute(null=True)
    extra = JSONAttribute(null=True)

    all_shops = AllShopsIndex()


class ConfigVersionModel(Model):
    """One accepted PUT of a configuration document; immutable."""

    class Meta(_Meta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True)
    doc = JSONAttribute(null=True)  # None: deleted (product rates back to the shop defaults)
    head_at = UnicodeAttribute(null=True)  # on the HEAD item only: the effective_at of the newest version


class SignedWriteMarkModel(Model):
    """The X-Timestamp of the newest accepted signed write to one last-writer-wins resource (a settings
    document, a product's rates, a member's distributor status or inviter), so that an older signed request
    replayed within the signature window cannot undo a newer change (see fenxiao.api.ordering). Lives in
    ConfigTable under ``SIGNED#{shop}#{path}``, which no configuration key can be (ids have no ``#``)."""

    class Meta(_Meta):
        pass

    config_key = UnicodeAttribute(hash_key=True)
    effective_at = UnicodeAttribute(range_key=True, default="MARK")
    signed_at = NumberAttribute()
    expires_at = NumberAttribute()  # TTL: a mark matters only while its request's signature is fresh


# ---------------------------------------------------------------- members


class MembersByShopIndex(GlobalSecondaryIndex["MemberItem"]):
    class Meta:
        index_name = "MembersByShop"
        # item_type lets PynamoDB build the right model class; it never changes, so no extra index writes.
        projection = IncludeProjection(["item_type"])

    shop_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MemberItem(Model):
    """Base of the items of one member's partition; ``item_type`` tells them apart."""

    class Meta(_Meta):
        pass

    member_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()


class MemberModel(MemberItem, discriminator="member"):
    """sk = META: the member's current state, balances and counters."""

    SK: ClassVar[str] = "META"

    shop_id = UnicodeAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    inviter_id = UnicodeAttribute(null=True)
    bound_at = UnicodeAttribute(null=True)
    binding_version = NumberAttribute(default=0)
    is_distributor = BooleanAttribute(default=False)
    distributor_since = UnicodeAttribute(null=True)
    frozen_fen = NumberAttribute(default=0)
    available_fen = NumberAttribute(default=0)
    withdrawing_fen = NumberAttribute(default=0)
    withdrawn_fen = NumberAttribute(default=0)
    growth = NumberAttribute(default=0)
    fans_level1 = NumberAttribute(default=0)
    fans_level2 = NumberAttribute(default=0)
    paid_orders = NumberAttribute(default=0)
    paid_total_fen = NumberAttribute(default=0)
    last_paid_at = UnicodeAttribute(null=True)
    bought_products = UnicodeSetAttribute(null=True)

    members_by_shop = MembersByShopIndex()


class BindingModel(MemberItem, discriminator="binding"):
    """sk = BIND#{bound_at}: one binding of the member to an inviter; replaced ones stay."""

    inviter_id = UnicodeAttribute()
    bound_at = UnicodeAttribute()
    replaced_at = UnicodeAttribute(null=True)
    scored = BooleanAttribute(default=False)


class DistributorChangeModel(MemberItem, discriminator="distributor"):
    """sk = DIST#{at}: the member became (active) or stopped being a distributor at ``at``."""

    active = BooleanAttribute()
    at = UnicodeAttribute()
    cause = UnicodeAttribute()  # "shop", "eligibility:<order_id>", "default"


class MarkerModel(MemberItem, discriminator="marker"):
    """sk = a business key that may happen once (e.g. GROWTH#SIGNIN#2026-11-25)."""

    at = UnicodeAttribute()


# ---------------------------------------------------------------- orders, payments, refunds, commissions


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

    class Meta(_Meta):
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


# ---------------------------------------------------------------- ledger


class LedgerEntryModel(Model):
    """An append-only entry; ``entry_key`` is its business key, written once with attribute_not_exists."""

    class Meta(_Meta):
        pass

    account = UnicodeAttribute(hash_key=True)
    entry_key = UnicodeAttribute(range_key=True)
    kind = (
        UnicodeAttribute()
    )  # commission_frozen, commission_clawback, commission_available, withdrawal_*, growth
    frozen_fen = NumberAttribute(default=0)
    available_fen = NumberAttribute(default=0)
    withdrawing_fen = NumberAttribute(default=0)
    withdrawn_fen = NumberAttribute(default=0)
    growth = NumberAttribute(default=0)
    ref = UnicodeAttribute(null=True)  # order id, withdrawal id, review id...
    at = UnicodeAttribute()


# ---------------------------------------------------------------- withdrawals


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
    class Meta(_Meta):
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

    class Meta(_Meta):
        pass

    withdrawal_key = UnicodeAttribute(hash_key=True)
    withdrawal_id = UnicodeAttribute()


# ---------------------------------------------------------------- leaderboards


class BoardRankingIndex(GlobalSecondaryIndex["BoardItem"]):
    class Meta:
        index_name = "BoardRanking"
        projection = AllProjection()

    board_key = UnicodeAttribute(hash_key=True)
    score = NumberAttribute(range_key=True)


class BoardItem(Model):
    class Meta(_Meta):
        pass

    board_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = DiscriminatorAttribute()

    ranking = BoardRankingIndex()


class BoardScoreModel(BoardItem, discriminator="score"):
    """board_key = {shop}#{board}#{period}#{shard}, sk = member_id: one member's fans on one board period.

    Written only by UpdateItem (service.leaderboard): ``fans`` +1, ``fans_scaled`` = fans * 10^13 and
    ``score`` = fans * 10^13 - reached_ms, where ``reached_at`` (UTC key) is the latest binding counted.
    """

    member_id = UnicodeAttribute()
    fans = NumberAttribute(default=0)
    fans_scaled = NumberAttribute(default=0)
    score = NumberAttribute(null=True)
    reached_at = UnicodeAttribute(null=True)


class BoardArchiveModel(BoardItem, discriminator="archive"):
    """board_key = {shop}#{board}#{period}, sk = ARCHIVE: the final top 20 of an ended period, best first,
    as ``[{"member_id", "fans", "reached_ms"}]``. ``version`` grows by one per rewrite (optimistic lock)."""

    entries = JSONAttribute()
    archived_at = UnicodeAttribute()
    version = NumberAttribute(default=0)


class BoardScoredModel(BoardItem, discriminator="scored"):
    """board_key = {shop}#SCORED#{member}, sk = {bound_at}: that binding of the member is scored (written once,
    in the transaction that moves its scores). Keyed by the fan, so a busy shop's markers spread out."""

    at = UnicodeAttribute()


class BoardRolloverModel(BoardItem, discriminator="rollover"):
    """board_key = {shop}#{board}, sk = ROLLED: the newest period of that board the rollover has archived."""

    last_period = UnicodeAttribute(null=True)
    rolled_at = UnicodeAttribute(null=True)


# ---------------------------------------------------------------- notifications


class NotificationModel(Model):
    class Meta(_Meta):
        pass

    shop_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(
        range_key=True
    )  # NOTIF#{notification id}: one record per notification, redeliveries included
    event_type = UnicodeAttribute()
    outcome = UnicodeAttribute()  # recorded | not_applied:<reason>
    summary = JSONAttribute(null=True)
    received_at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


# ---------------------------------------------------------------- binding table names

_TABLES: dict[type[Model], str] = {
    ShopModel: "shops_table",
    ConfigVersionModel: "config_table",
    SignedWriteMarkModel: "config_table",
    MemberItem: "members_table",
    OrderItem: "orders_table",
    LedgerEntryModel: "ledger_table",
    WithdrawalModel: "withdrawals_table",
    PayoutBillModel: "withdrawals_table",
    BoardItem: "leaderboard_table",
    NotificationModel: "notifications_table",
}


def bind_tables(settings: Settings) -> None:
    """Point every model at the tables named in ``settings`` (called once per container by bootstrap)."""
    from fenxiao.adapters.aws import share_loader_with_pynamodb

    share_loader_with_pynamodb()
    for model, field in _TABLES.items():
        table_name = getattr(settings, field)
        for cls in [model, *_subclasses(model)]:
            cls.Meta.table_name = table_name
            cls.Meta.region = settings.region
            cls._connection = None


def _subclasses(model: type[Model]) -> list[type[Model]]:
    out: list[type[Model]] = []
    for sub in model.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out
