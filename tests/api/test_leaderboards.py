"""GET /shops/{s}/leaderboards/{board}?period= and the rollover job through the API (SPEC §5, §7)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.domain.periods import SHANGHAI
from tests.support.app import Api, ShopCaller
from tests.support.leaderboard import bind, board, drain_bindings, standings

pytestmark = pytest.mark.api

WED = datetime(2026, 11, 25, 10, tzinfo=SHANGHAI)


def test_board_answer_shape(shop: ShopCaller) -> None:
    clock.set_now(WED - timedelta(days=1))
    settings = {
        "leaderboard": {"display_count": 2, "reward_text": {"weekly": "周榜前三送礼", "monthly": "月榜"}}
    }
    assert shop.put(shop.path("/settings/distribution"), settings).status == 200
    bind(shop, "b", "a", WED)
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    bind(shop, "d", "c", WED + timedelta(minutes=2))
    drain_bindings()
    weekly = board(shop, "weekly")
    assert weekly.status == 200
    assert weekly.body == {
        "board": "weekly",
        "period": "2026-W48",
        "starts_at": "2026-11-23T00:00:00+08:00",
        "ends_at": "2026-11-30T00:00:00+08:00",
        "reward_text": "周榜前三送礼",
        "entries": [  # a reached 2 fans at 10:01, b at 10:02; display_count 2 leaves c (1 fan) out
            {"rank": 1, "member_id": "a", "fans": 2},
            {"rank": 2, "member_id": "b", "fans": 2},
        ],
    }
    monthly = board(shop, "monthly").body
    assert (monthly["period"], monthly["starts_at"], monthly["ends_at"], monthly["reward_text"]) == (
        "2026-11",
        "2026-11-01T00:00:00+08:00",
        "2026-12-01T00:00:00+08:00",
        "月榜",
    )
    total = board(shop, "total").body
    assert (total["period"], total["starts_at"], total["ends_at"], total["reward_text"]) == (
        "total",
        None,
        None,
        "",
    )
    assert board(shop, "total", "total").body == total


def test_unknown_board_is_404(shop: ShopCaller) -> None:
    answer = board(shop, "daily")
    assert answer.status == 404
    assert answer.error["code"] == "board_not_found"


@pytest.mark.parametrize(
    ("name", "period"),
    [
        ("weekly", "2026-48"),
        ("weekly", "2026-W54"),
        ("weekly", "2025-W53"),  # 2025 has 52 ISO weeks
        ("weekly", "2026-11"),
        ("monthly", "2026-13"),
        ("monthly", "2026-W48"),
        ("monthly", "26-11"),
        ("total", "2026"),
        ("weekly", ""),
    ],
)
def test_malformed_period_is_400_on_period(shop: ShopCaller, name: str, period: str) -> None:
    answer = board(shop, name, period)
    assert answer.status == 400, answer
    assert answer.error["field"] == "period"


def test_a_period_that_has_not_started_is_404(shop: ShopCaller) -> None:
    clock.set_now(WED)
    answer = board(shop, "weekly", "2026-W49")
    assert answer.status == 404
    assert answer.error["code"] == "period_not_started"
    assert board(shop, "monthly", "2026-12").status == 404
    assert board(shop, "weekly", "2026-W48").status == 200  # the current one
    assert board(shop, "weekly", "2020-W01").body["entries"] == []  # long ago: empty


def test_another_shop_cannot_read_the_board(api: Api, shop: ShopCaller) -> None:
    other = api.create_shop("shop2")
    answer = other.get("/shops/shop1/leaderboards/weekly")
    assert answer.status == 403


def test_rollover_job_archives_and_the_archive_stays_readable(api: Api, shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    bind(shop, "c", "a", WED + timedelta(minutes=1))
    bind(shop, "d", "e", WED + timedelta(minutes=2))
    drain_bindings()
    answer = api.operator("POST", "/admin/jobs/leaderboard-rollover", {"now": "2026-11-30T00:00:05+08:00"})
    assert answer.status == 200, answer
    assert answer.body["done"] is True
    assert answer.body["periods_archived"] == 2  # 2026-W48 and, on the first run, 2026-10
    assert answer.body["shops_rolled"] == 1
    assert standings(shop, "weekly", "2026-W48") == [("a", 2), ("e", 1)]
    assert standings(shop, "weekly") == []  # 2026-W49 starts from zero
    assert standings(shop, "monthly") == [("a", 2), ("e", 1)]  # November goes on
    clock.set_now(datetime(2027, 3, 1, tzinfo=SHANGHAI))
    assert standings(shop, "weekly", "2026-W48") == [("a", 2), ("e", 1)]
    assert api.operator("POST", "/admin/jobs/leaderboard-rollover").status == 200
    assert standings(shop, "monthly", "2026-11") == [("a", 2), ("e", 1)]
