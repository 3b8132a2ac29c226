"""Settlement's cost follows what is due, not what is stored: one run with 10 due commissions among 100 stored
and among 100 000 stored (the rest not due yet, or settled long ago). Figures: DynamoDB round trips, items
read, write units, wall time. Goal: the 100 000 run costs at most 1.1 times the 100 run.

    .venv/bin/pytest tests/bench/test_bench_settlement.py -m bench -s
(FENXIAO_BENCH_SETTLEMENT_STORED=20000 for a quicker run.) Measured: 20 round trips (18 Query = 8 due-index
shards + 1 refund read per order, the 10 due being in 10 orders; 1 BatchGetItem; 1 TransactWriteItems: the 10
releases in one batch), 20 items read, 60 WCU in both cases: ratio 1.0 (asserted: equal round trips, items
read and calls). Before batching (issue 16) it was 29 round trips, 10 of them transactions; the WCU are the
same here because the 10 due belong to 10 members (a member's balance is written once per batch, so a member
with several due commissions saves 2 WCU per extra one). Run time on moto 0.6 s among 100 and 29.0 s among
100 000 stored (load average 8; 1.4 s and 11.8 s were recorded before on a quieter machine): moto still walks
a whole index to answer an index query, which DynamoDB does not. Wall time on moto is not DynamoDB's: plain
moto deep-copies every table a transaction touches, so its run time grew with the table (about 12 minutes at
100 000 items); the run is therefore measured under ``item_level_moto()`` (infra/fenxiao_local/fast_moto.py:
same answers, item-level copies), which changes no count. The time of one run with 10 000 due on the local
stack: tests/bench/test_bench_settlement_stack.py.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters.ledger import account
from fenxiao.adapters.orders import CommissionLineMap, CommissionModel, due_shard
from fenxiao.service import settlement
from fenxiao.timefmt import key
from fenxiao_local.fast_moto import item_level_moto
from tests.bench.counting import Measure, measuring
from tests.support.app import ShopCaller
from tests.support.money import assert_audit_clean, frozen_commission

pytestmark = pytest.mark.bench

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
DUE = 10
LARGE = int(os.environ.get("FENXIAO_BENCH_SETTLEMENT_STORED", "100000"))


def _filler(i: int) -> CommissionModel:
    """A stored commission that is not due: half frozen with a later effective time (in the due index, out
    of the range a run reads), half settled long ago (out of the sparse index altogether)."""
    order_id, member_id = f"f{i}", f"m{i % 500}"
    paid = T0 - timedelta(days=30)
    item = CommissionModel(
        f"shop1#{order_id}",
        f"COMM#level1#{member_id}",
        shop_id="shop1",
        order_id=order_id,
        tier="level1",
        member_id=member_id,
        lines=[CommissionLineMap(line_id="l1", paid_fen=10_000, rate_bp=1000)],
        original_fen=1_000,
        amount_fen=1_000,
        status="frozen",
        basis="payment",
        freeze_days=7,
        paid_at=key(paid),
        version=0,
        beneficiary=account("shop1", member_id),
        paid_sort=f"{key(paid)}#{order_id}#level1",
    )
    if i % 2:
        effective = T0 + timedelta(days=1, seconds=i)
        item.effective_at = key(effective)
        item.due_shard = due_shard(order_id, "level1", member_id)
        item.due_at = key(effective)
    else:
        item.status = "available"
        item.version = 1
        item.effective_at = key(paid + timedelta(days=7))
        item.released_at = item.effective_at
    return item


def _store(stored: int) -> float:
    started = time.monotonic()
    clock.set_now(T0)
    for i in range(DUE):
        frozen_commission("shop1", f"due{i}", f"d{i}", 100 + i, T0 - timedelta(minutes=i))
    with CommissionModel.batch_write() as batch:
        for i in range(stored - DUE):
            batch.save(_filler(i))
    return time.monotonic() - started


def _run() -> tuple[Measure, float, int]:
    started = time.monotonic()
    released = 0
    with measuring() as measure:
        cursor: dict[str, Any] | None = None
        while True:
            page = settlement.run_page(T0, cursor)
            released += page.details["released"]
            cursor = page.cursor
            if cursor is None:
                break
    return measure, time.monotonic() - started, released


def _figures(stored: int, measure: Measure, seconds: float, setup: float) -> dict[str, Any]:
    return {
        "stored": stored,
        "due": DUE,
        "round_trips": measure.round_trips,
        "dynamodb_calls": {k: n for k, n in sorted(measure.calls.items()) if k.startswith("dynamodb.")},
        "items_read": measure.read_items,
        "write_units": measure.write_units,
        "run_seconds_on_moto": round(seconds, 3),  # moto copies whole tables per transaction: not DynamoDB's
        "setup_seconds": round(setup, 1),
    }


@pytest.mark.parametrize("stored", [100, LARGE])
def test_settlement_run_cost(shop: ShopCaller, report: Any, stored: int) -> None:
    with item_level_moto():  # moto's whole-table copies off: the counts are the same, the wall time sane
        setup = _store(stored)
        measure, seconds, released = _run()
    assert released == DUE
    figures = _figures(stored, measure, seconds, setup)
    _RESULTS[stored] = figures
    report(f"settlement: {DUE} due among {stored} stored", figures)
    if len(_RESULTS) == 2:
        small, large = _RESULTS[100], _RESULTS[LARGE]
        # Structural, not timing: what is stored but not due costs nothing.
        assert large["round_trips"] == small["round_trips"]
        assert large["items_read"] == small["items_read"]
        assert large["dynamodb_calls"] == small["dynamodb_calls"]
        report(
            f"settlement: cost ratio {LARGE} / 100 stored (goal <= 1.1)",
            {
                "round_trips": round(large["round_trips"] / small["round_trips"], 3),
                "items_read": round(large["items_read"] / small["items_read"], 3),
                "write_units": round(large["write_units"] / small["write_units"], 3),
            },
        )
    with item_level_moto():
        assert_audit_clean()


_RESULTS: dict[int, dict[str, Any]] = {}
