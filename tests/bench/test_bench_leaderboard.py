"""Figures for the fan leaderboards: writes per binding, rollover cost vs board size, board reads.

Run: ``.venv/bin/pytest tests/bench/test_bench_leaderboard.py -m bench -s``. The big board's size is
``FENXIAO_BENCH_BOARD_SIZE`` (default 100 000: about 2 minutes to load on moto in-process; set it lower
for a quick run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters import leaderboard as boards
from fenxiao.adapters.leaderboard import BOARD_SHARDS
from fenxiao.domain.periods import SHANGHAI
from fenxiao.service import leaderboard
from tests.bench import counting
from tests.bench.counting import Measure, measuring
from tests.support.app import Api, ShopCaller
from tests.support.leaderboard import bind, binding_messages, drain_bindings, standings, write_counters

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


WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@contextmanager
def recording_writes() -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    """Every DynamoDB write request sent inside the block: (operation, the items it writes, one dict per
    item with its table, key and kind). Wraps the call the bench counter makes, so both see the same."""
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    real = counting._original

    def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation in WRITES and not counting._inside.get():
            sent.append((operation, _items_of(operation, params)))
        return real(client, operation, params)

    counting._original = spy
    try:
        yield sent
    finally:
        counting._original = real


def _items_of(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            item_key = body.get("Key") or {"board_key": body["Item"]["board_key"], "sk": body["Item"]["sk"]}
            out.append({"kind": kind, "table": body["TableName"], "key": item_key})
        return out
    if operation == "BatchWriteItem":
        return [{"kind": "batch", "table": t} for t, rs in params["RequestItems"].items() for _ in rs]
    return [{"kind": operation, "table": params["TableName"]}]


def items_written(sent: list[tuple[str, list[dict[str, Any]]]]) -> int:
    return sum(len(items) for _, items in sent)


def test_writes_per_binding(shop: ShopCaller, report) -> None:
    bind(shop, "b", "a", WED)  # a is b's inviter: c -> b scores b (level 1) and a (level 2)
    drain_bindings()
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    (message,) = binding_messages()
    with recording_writes() as sent, measuring() as measure:
        result = leaderboard.score_binding(
            message["shop_id"], message["member_id"], message["bound_at"], clock.now()
        )
    assert result.scored and len(result.targets) == 6
    # The goal: one round trip, one TransactWriteItems of the marker and <= 2 distributors x 3 boards.
    assert _writes(measure) == {"dynamodb.TransactWriteItems": 1}
    ((operation, items),) = sent
    assert operation == "TransactWriteItems"
    counters = [i for i in items if i["kind"] == "Update"]
    assert [i["kind"] for i in items].count("Put") == 1 and len(items) == 1 + len(counters)
    members = {i["key"]["sk"]["S"] for i in counters}
    boards = {i["key"]["board_key"]["S"].split("#")[1] for i in counters}
    assert len(counters) == len(members) * len(boards) <= 2 * 3
    assert (members, boards) == ({"a", "b"}, {"weekly", "monthly", "total"})
    assert result.archives_refreshed == []  # mid-week: no archive rewrite
    with recording_writes() as sent_again, measuring() as repeat:
        again = leaderboard.score_binding(
            message["shop_id"], message["member_id"], message["bound_at"], clock.now()
        )
    assert not again.scored
    assert _writes(repeat) == {"dynamodb.TransactWriteItems": 1}  # cancelled by the marker
    assert items_written(sent_again) == len(items)
    assert standings(shop, "weekly") == [("a", 2), ("b", 1)]
    report(
        "leaderboard: one binding scored (level 1 + level 2, 3 boards)",
        {
            "counters updated": len(counters),
            "items in the write transaction": len(items),  # the counters + the scored marker
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
    written: dict[int, int] = {}
    for size in (10, BIG):
        shop_id = f"board{size}"
        start = time.monotonic()
        counts = {f"d{i:06d}": (1 + i % 37, WED + timedelta(seconds=i % 3600)) for i in range(size)}
        write_counters(shop_id, "weekly", "2026-W48", counts)
        loaded[shop_id] = round(time.monotonic() - start, 1)
        with recording_writes() as sent, measuring() as measure:
            archived, more = leaderboard.roll_over_shop(shop_id, period_end)
        assert (archived, more) == (2, False)  # 2026-W48 and (first run) 2026-10
        measures[size] = measure
        written[size] = items_written(sent)
        figures[f"{size} distributors"] = measure.summary()
        figures[f"{size} distributors: items written"] = written[size]
    # The goal: the same items written (and round trips) whatever the board's size. Per shop and ended
    # period: one archive put and one rollover mark update; 2 periods here.
    assert written[10] == written[BIG] == 2 * 2
    assert _writes(measures[10]) == _writes(measures[BIG])
    assert measures[10].round_trips == measures[BIG].round_trips
    assert measures[BIG].read_items <= 2 * BOARD_SHARDS * (leaderboard.ARCHIVE_SIZE + 1)
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
        found = boards.shard_standings("shop1", "weekly", "2026-W48", 10)
    # the top 10 of each shard and one look-ahead item (no ties at the cut in this data)
    assert shards_only.read_items == len(found) == BOARD_SHARDS * (10 + 1)
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
