"""LedgerTable (account, entry_key): append-only money and growth entries, each with a unique business key.

Here are the account (partition) of a member, the entry keys of the commissions and of an order's growth,
and the per-member totals the audit re-adds."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta
from fenxiao.adapters.tables import bind
from fenxiao.domain.ledger import BUCKETS


class LedgerByTimeIndex(LocalSecondaryIndex["LedgerEntryModel"]):
    class Meta:
        index_name = "LedgerByTime"
        projection = AllProjection()

    account = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)


class LedgerEntryModel(Model):
    """An append-only entry; ``entry_key`` is its business key, written once with attribute_not_exists."""

    class Meta(TableMeta):
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

    # lists15: the member's entries by time (收益明细), a LocalSecondaryIndex declared with LedgerTable.
    ledger_by_time = LedgerByTimeIndex()


def account(shop_id: str, member_id: str) -> str:
    """The ledger partition (and the member partition key) of one member."""
    return f"{shop_id}#{member_id}"


def commission_entry_key(order_id: str, tier: str, member_id: str, event: str) -> str:
    """A commission's movement: ``event`` is ``FROZEN`` (earned), ``RELEASE`` (made available) or an
    adjustment (:func:`commission_adjustment_key`)."""
    return f"COMM#{order_id}#{tier}#{member_id}#{event}"


def commission_adjustment_key(order_id: str, tier: str, member_id: str, version: int) -> str:
    """A change of a commission's amount after refunds, numbered by the commission's version it makes."""
    return commission_entry_key(order_id, tier, member_id, f"ADJ#{version}")


def order_growth_key(order_id: str, version: int) -> str:
    """The buyer's growth from an order (0: at the payment) and its corrections, numbered by the order's
    version that makes them."""
    return f"GROWTH#ORDER#{order_id}#{version}"


def ledger_totals(account: str) -> dict[str, int]:
    """The sum of every bucket over the account's entries: one strongly consistent Query of its partition."""
    totals = dict.fromkeys(BUCKETS, 0)
    for entry in LedgerEntryModel.query(account, consistent_read=True):
        for bucket in BUCKETS:
            totals[bucket] += int(getattr(entry, bucket) or 0)
    return totals


# ---------------------------------------------------------------- 收益明细 pages

MONEY_BUCKETS = ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen")


def money_page(
    shop_id: str, member_id: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[LedgerEntryModel], dict[str, Any] | None]:
    """Up to ``limit`` of the member's entries, newest first (LedgerByTime), keeping those that move money
    (growth-only entries are read and dropped by the filter), and the key to go on from (None: the end)."""
    moves_money = (
        (LedgerEntryModel.frozen_fen != 0)
        | (LedgerEntryModel.available_fen != 0)
        | (LedgerEntryModel.withdrawing_fen != 0)
        | (LedgerEntryModel.withdrawn_fen != 0)
    )
    result = LedgerEntryModel.ledger_by_time.query(
        account(shop_id, member_id),
        filter_condition=moves_money,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=start,
        consistent_read=True,
    )
    return list(result), result.last_evaluated_key


# Last, after every subclass: the tables this module's models are stored in.
bind(LedgerEntryModel, "ledger_table")
