"""LedgerTable (account, entry_key): append-only money and growth entries, each with a unique business key."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta


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


# ---------------------------------------------------------------- lists15: 收益明细 pages

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
