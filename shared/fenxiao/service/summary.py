"""The shop summary (SPEC §9 ``GET /shops/{s}/summary``): the counters of ``adapters.summary`` summed over
their shards, one BatchGetItem; every counter moves in the transaction of the fact it counts."""

from __future__ import annotations

from typing import Any

from fenxiao.adapters import summary as summary_table


def shop_summary(shop_id: str) -> dict[str, Any]:
    totals = summary_table.read_totals(shop_id)
    return {
        "members": totals["members"],
        "distributors": totals["distributors"],
        "balances": {bucket: totals[bucket] for bucket in summary_table.MONEY},
        "withdrawals_pending_review": totals["withdrawals_pending_review"],
        "orders_flagged": totals["orders_flagged"],
    }
