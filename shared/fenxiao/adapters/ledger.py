"""LedgerTable (account, entry_key): append-only money and growth entries, each with a unique business key."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from fenxiao.adapters.dynamo import TableMeta


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


def account(shop_id: str, member_id: str) -> str:
    """The ledger partition (and the member partition key) of one member."""
    return f"{shop_id}#{member_id}"
