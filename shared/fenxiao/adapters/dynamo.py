"""What every table module shares: the PynamoDB ``Meta`` defaults, the conditional-write test and the
optimistic-version condition.

The tables, one module each (their key formats, shard functions, one-query loads and conditional writes):

shops.py          ShopsTable, and ConfigTable (configuration versions, signed-write marks)
wechat_tokens.py  ShopsTable's shared mini-program access tokens
members.py        MembersTable (members, scenes, code claims)
orders.py         OrdersTable
ledger.py         LedgerTable
summary.py        LedgerTable's shop summary counter shards
withdrawals.py    WithdrawalsTable
leaderboard.py    LeaderboardTable
notifications.py  NotificationsTable

``tables.bind_tables`` points them at the table names of the environment (never at import), and
``unit_of_work.UnitOfWork`` writes across them in one TransactWriteItems.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition


class TableMeta:
    table_name = "unbound"
    region = "us-east-1"
    billing_mode = "PAY_PER_REQUEST"
    max_retry_attempts = 3
    connect_timeout_seconds = 5
    read_timeout_seconds = 10


def condition_failed(exc: BaseException) -> bool:
    """True when a PynamoDB single-item write (PutError, UpdateError, DeleteError) failed only because its
    condition did not hold: the expected answer of a conditional write, not a fault."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def transaction_cancelled(exc: BaseException) -> bool:
    """True when a PynamoDB TransactWrite failed only because DynamoDB cancelled it (a condition did not hold,
    or its items were busy): the expected answer of a conditional transaction, not a fault."""
    return getattr(exc, "cause_response_code", None) == "TransactionCanceledException"


def written(write: Callable[[], object]) -> bool:
    """Run one conditional single-item write: True when it wrote, False when its condition did not hold
    (any other failure is raised)."""
    try:
        write()
    except (PutError, UpdateError, DeleteError) as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def version_is(attribute: Any, version: int) -> Condition:
    """``attribute == version``, where an absent attribute counts as version 0."""
    condition: Condition = attribute == version
    if version == 0:
        condition = condition | attribute.does_not_exist()
    return condition


def shard_of(text: str, shards: int) -> int:
    """A stable shard in ``range(shards)`` for a key (crc32: the same in every process, unlike ``hash``).
    The one shard function of every sharded index and counter."""
    return zlib.crc32(text.encode()) % shards
