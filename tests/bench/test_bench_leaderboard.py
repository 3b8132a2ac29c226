"""Figures for the fan leaderboards: writes per binding, rollover cost vs board size, board reads.

Run: ``.venv/bin/pytest tests/bench/test_bench_leaderboard.py -m bench -s``. The big board's size is
``FENXIAO_BENCH_BOARD_SIZE`` (default 100 000: about 2 minutes to load on moto in-process; set it lower
for a quick run).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.adapters.dynamo import BOARD_SHARDS
from fenxiao.domain.periods import SHANGHAI
from fenxiao.service import leaderboard
from tests.bench.counting import Measure, measuring
from tests.support import Api, ShopCaller
from tests.support_leaderboard import bind, binding_messages, drain_bindings, standings, write_counters

pytestmark = pytest.mark.bench

WED = datetime(2026, 11, 25, 10, tzinfo=SHANGHAI)
MONDAY = datetime(2026, 11, 30, 0, 0, 5, tzinfo=SHANGHAI)
BIG = int(os.environ.get("FENXIAO_BENCH_BOARD_SIZE", "100000"))


def _writes(measure: Measure) -> dict[str, int]:
    return {
        op: n
        for op, n in measure.calls.items()
        if op.split(".")[1] in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
    }


def test_writes_per_binding(shop: ShopCaller, report) -> None:
    bind(shop, "b", "a", WED)  # a is b's inviter: c -> b scores b (level 1) and a (level 2)
    drain_bindings()
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    (message,) = binding_messages()
    with measuring() as measure:
        result = leaderboard.score_binding(
            message["shop_id"], message["member_id"], message["bound_at"], clock.now()
        )
    assert result.scored and len(result.targets) == 6
    with measuring() as repeat:
        again = leaderboard.score_binding(
            message["shop_id"], message["member_id"], message["bound_at"], clock.now()
        )
    assert not again.scored
    assert standings(shop, "weekly") == [("a", 2), ("b", 1)]
    report(
        "leaderboard: one binding scored (level 1 + level 2, 3 boards)",
        {
            "counters updated": len(result.targets),
            "items in the write transaction": len(result.targets) + 1,  # + the scored marker
            "write round trips": sum(_writes(measure).values()),
            "writes": _writes(measure),
            "write units (WCU, transactional = 2 per item)": measure.write_units,
            "all round trips": measure.summary(),
            "the same message again": repeat.summary(),
        },
    )


def test_rollover_cost_does_not_grow_with_the_board(shop: ShopCaller, report) -> None:
    period_end = MONDAY
    loaded: dict[str, float] = {}
    figures: dict[str, object] = {}
    measures: dict[int, Measure] = {}
    for size in (10, BIG):
        shop_id = f"board{size}"
        start = time.monotonic()
        counts = {f"d{i:06d}": (1 + i % 37, WED + timedelta(seconds=i % 3600)) for i in range(size)}
        write_counters(shop_id, "weekly", "2026-W48", counts)
        loaded[shop_id] = round(time.monotonic() - start, 1)
        with measuring() as measure:
            archived, more = leaderboard.roll_over_shop(shop_id, period_end)
        assert (archived, more) == (2, False)  # 2026-W48 and (first run) 2026-10
        measures[size] = measure
        figures[f"{size} distributors"] = measure.summary()
        figures[f"{size} distributors: items written"] = sum(_writes(measure).values())
    assert _writes(measures[10]) == _writes(measures[BIG])
    assert measures[10].round_trips == measures[BIG].round_trips
    figures["counter load time (s, moto batch writes, not measured)"] = loaded
    report(f"leaderboard: rollover of one shop, 10 vs {BIG} distributors", figures)


def test_board_reads(api: Api, shop: ShopCaller, report) -> None:
    clock.set_now(WED + timedelta(hours=1))
    counts = {f"d{i:05d}": (1 + i % 53, WED - timedelta(seconds=i)) for i in range(2000)}
    write_counters("shop1", "weekly", "2026-W48", counts)
    assert len(standings(shop, "weekly")) == 10  # warm: auth material cached
    with measuring() as current:
        assert len(standings(shop, "weekly")) == 10
    with measuring() as shards_only:
        found = leaderboard.shard_standings("shop1", "weekly", "2026-W48", 10)
    assert shards_only.read_items == len(found) <= BOARD_SHARDS * 10
    leaderboard.roll_over_shop("shop1", MONDAY)
    clock.set_now(MONDAY)
    with measuring() as archived:
        assert len(standings(shop, "weekly", "2026-W48")) == 10
    assert archived.calls["dynamodb.Query"] == 0
    report(
        "leaderboard: GET a board of 2000 distributors (display_count 10)",
        {
            "current period, whole request": current.summary(),
            "current period, the board itself": shards_only.summary(),
            "archived period, whole request": archived.summary(),
        },
    )
