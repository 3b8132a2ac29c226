"""The shop summary's counters (SPEC §9 ``GET /shops/{s}/summary``): ``SHARDS`` items in LedgerTable, one
partition each (``{shop}#SUMMARY#{nn}``, sort key ``SUMMARY``; member ids never hold ``#``, so no member's
account can be one), summed on read with one BatchGetItem.

Every counter is changed only inside the UnitOfWork transaction of the fact it counts (``UnitOfWork.count``;
the four money buckets from the transaction's ledger movements), with an ADD on one shard per transaction.
Separate partitions, not sort keys of one partition: LedgerTable has a local index, so one partition key's
items can never be split over partitions and would share one partition's 1000 WCU/s.
``writes`` counts the transactions a shard took: the audit uses it to know that nothing moved while it read.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from fenxiao.adapters.dynamo import TableMeta, shard_of
from fenxiao.adapters.tables import bind

SHARDS = 32  # docs/decisions.md: sized by transaction conflicts at a busy shop's peak, not by WCU
SORT_KEY = "SUMMARY"
MONEY = ("frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen")
COUNTERS = ("members", "distributors", *MONEY, "withdrawals_pending_review", "orders_flagged")


class SummaryShardModel(Model):
    """One shard of a shop's counters (LedgerTable; no ``at``, so the LedgerByTime index never holds it)."""

    class Meta(TableMeta):
        pass

    account = UnicodeAttribute(hash_key=True)  # {shop}#SUMMARY#{nn}
    entry_key = UnicodeAttribute(range_key=True, default=SORT_KEY)
    members = NumberAttribute(default=0)
    distributors = NumberAttribute(default=0)
    frozen_fen = NumberAttribute(default=0)
    available_fen = NumberAttribute(default=0)
    withdrawing_fen = NumberAttribute(default=0)
    withdrawn_fen = NumberAttribute(default=0)
    withdrawals_pending_review = NumberAttribute(default=0)
    orders_flagged = NumberAttribute(default=0)
    writes = NumberAttribute(default=0)


def shard_account(shop_id: str, shard: int) -> str:
    return f"{shop_id}#SUMMARY#{shard:02d}"


def shard_for(key: str) -> int:
    """The shard a transaction writes, from a key of its own (an order's or withdrawal's entry key, a member
    id): spread per write, so a star distributor on every order does not make one shard hot."""
    return shard_of(key, SHARDS)


def counter_update(shop_id: str, shard: int, deltas: dict[str, int]) -> tuple[SummaryShardModel, list[Any]]:
    """The item and the ADD actions of one transaction's counter deltas (``writes`` always grows by one)."""
    actions = [getattr(SummaryShardModel, name).add(delta) for name, delta in deltas.items() if delta]
    actions.append(SummaryShardModel.writes.add(1))
    return SummaryShardModel(shard_account(shop_id, shard), SORT_KEY), actions


def read_shards(shop_id: str) -> list[SummaryShardModel]:
    """Every shard that exists (one strongly consistent BatchGetItem of ``SHARDS`` keys)."""
    keys = [(shard_account(shop_id, n), SORT_KEY) for n in range(SHARDS)]
    return list(SummaryShardModel.batch_get(keys, consistent_read=True))


def totals(shards: list[SummaryShardModel]) -> dict[str, int]:
    """The counters summed over the shards, and ``writes``."""
    out = dict.fromkeys((*COUNTERS, "writes"), 0)
    for item in shards:
        for name in out:
            out[name] += int(getattr(item, name) or 0)
    return out


def read_totals(shop_id: str) -> dict[str, int]:
    return totals(read_shards(shop_id))


def correct(shop_id: str, seen: list[SummaryShardModel], deltas: dict[str, int]) -> bool:
    """Add ``deltas`` to shard 0 while every shard is as ``seen`` (its ``writes``; an absent shard still
    absent), in one transaction: False when a counted transaction committed since (nothing written)."""
    writes = {item.account: int(item.writes or 0) for item in seen}
    try:
        with TransactWrite(connection=SummaryShardModel._get_connection().connection) as tx:
            for n in range(SHARDS):
                key = shard_account(shop_id, n)
                attr = SummaryShardModel.writes
                guard = attr == writes[key] if key in writes else attr.does_not_exist()
                if n == 0:
                    item, actions = counter_update(shop_id, 0, deltas)
                    tx.update(item, actions=actions, condition=guard)
                else:
                    tx.condition_check(SummaryShardModel, key, SORT_KEY, condition=guard)
    except TransactWriteError as exc:
        reasons = {r.code for r in (exc.cancellation_reasons or []) if r is not None}
        if reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
            return False
        raise
    return True


# Last, after every subclass: the tables this module's models are stored in.
bind(SummaryShardModel, "ledger_table")
