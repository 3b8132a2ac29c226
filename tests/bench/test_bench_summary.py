"""Figures for the shop summary: what GET /shops/{s}/summary costs, and what its counters add to the writes
that move them (a growth event, the one write path that must read whether its member is new).

    .venv/bin/pytest tests/bench/test_bench_summary.py -m bench -s
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fenxiao import clock
from fenxiao.adapters import summary as summary_table
from tests.bench.counting import measuring
from tests.support.app import ShopCaller

pytestmark = pytest.mark.bench

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_summary_read_and_growth_event_cost(shop: ShopCaller, report) -> None:
    clock.set_now(T0)
    with measuring() as new_member:
        assert shop.post(shop.path("/members/m1/growth-events"), {"type": "profile"}).status == 200
    with measuring() as known_member:
        assert shop.post(shop.path("/members/m1/growth-events"), {"type": "signin"}).status == 200
    with measuring() as read:
        answer = shop.get(shop.path("/summary"))
    assert answer.status == 200 and answer.body["members"] == 1
    assert read.calls["dynamodb.BatchGetItem"] == 1
    report(
        "shop summary",
        {
            f"GET /summary ({summary_table.SHARDS} shards)": read.summary(),
            "growth event, new member (counter +1 member)": new_member.summary(),
            "growth event, known member (no counter item)": known_member.summary(),
        },
    )
