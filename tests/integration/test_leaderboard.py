"""Fan leaderboards at the service level (SPEC §5): scoring, periods, idempotency, archives, late events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.adapters import leaderboard as boards
from fenxiao.adapters.leaderboard import BOARD_SHARDS, BoardArchiveModel, BoardRolloverModel, BoardScoreModel
from fenxiao.domain.leaderboard import decode_score, unix_ms
from fenxiao.domain.periods import SHANGHAI
from fenxiao.entry.consumers import handle_binding_message
from tests.bench.counting import measuring
from tests.support.app import ShopCaller
from tests.support.leaderboard import (
    bind,
    binding_messages,
    board,
    drain_bindings,
    run_rollover,
    standings,
    write_counters,
)

pytestmark = pytest.mark.integration


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


WED = sh(2026, 11, 25, 10)  # in 2026-W48 (Mon 23 Nov .. Sun 29 Nov) and 2026-11


def counter(shop_id: str, board_name: str, period: str, member: str) -> BoardScoreModel | None:
    try:
        item = BoardScoreModel.get(
            boards.counter_key(shop_id, board_name, period, member), member, consistent_read=True
        )
    except BoardScoreModel.DoesNotExist:
        return None
    assert isinstance(item, BoardScoreModel)
    return item


# ---------------------------------------------------------------- scoring


def test_binding_scores_inviter_and_grand_inviter_on_every_board(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    assert drain_bindings() == 2
    for name, period in (("weekly", "2026-W48"), ("monthly", "2026-11"), ("total", "total")):
        assert standings(shop, name, period) == [("a", 2), ("b", 1)], name
    # The counter holds the exact score: 2 fans reached at the second binding.
    item = counter("shop1", "weekly", "2026-W48", "a")
    assert item is not None and item.fans == 2
    reached = decode_score(item.score)[1]
    assert 0 <= reached - unix_ms(WED + timedelta(minutes=1)) < 1000


def test_the_same_message_three_times_scores_once(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    assert drain_bindings(times=3) == 2
    assert standings(shop, "weekly") == [("a", 2), ("b", 1)]
    assert counter("shop1", "total", "total", "a").fans == 2  # type: ignore[union-attr]


def test_redelivered_after_other_bindings_still_scores_once(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    first = binding_messages()
    handle_binding_message(first[0])
    bind(shop, "c", "a", WED + timedelta(minutes=1))
    drain_bindings()
    handle_binding_message(first[0])  # a late redelivery of the first message
    assert standings(shop, "weekly") == [("a", 2)]


def test_messages_out_of_order_give_the_same_score(shop: ShopCaller) -> None:
    """A count is reached at the latest of its bindings, whatever the processing order."""
    bind(shop, "b", "a", WED)
    bind(shop, "c", "a", WED + timedelta(minutes=5))
    messages = binding_messages()
    for message in reversed(messages):
        handle_binding_message(message)
    item = counter("shop1", "weekly", "2026-W48", "a")
    assert item is not None and item.fans == 2
    assert item.reached_at == messages[1]["bound_at"]
    fans, reached_ms = decode_score(item.score)
    assert fans == 2
    assert 0 <= reached_ms - unix_ms(WED + timedelta(minutes=5)) < 1000


def test_ties_go_to_who_reached_the_count_first(shop: ShopCaller) -> None:
    bind(shop, "x1", "late", WED)  # "late" reaches 1 first...
    bind(shop, "y1", "early", WED + timedelta(minutes=1))
    bind(shop, "y2", "early", WED + timedelta(minutes=2))  # ...but "early" reaches 2 first
    bind(shop, "x2", "late", WED + timedelta(minutes=3))
    bind(shop, "z1", "solo", WED + timedelta(minutes=4))
    drain_bindings()
    assert standings(shop, "weekly") == [("early", 2), ("late", 2), ("solo", 1)]


def test_level2_only_when_the_grand_inviter_is_a_distributor_at_the_binding(shop: ShopCaller) -> None:
    clock.set_now(WED - timedelta(days=1))
    assert shop.put(shop.path("/settings/distribution"), {"eligibility": {"mode": "purchases"}}).status == 200
    for member in ("g", "p"):
        assert shop.put(shop.path(f"/members/{member}/distributor"), {"active": True}).status == 200
    bind(shop, "p", "g", WED)  # g: 1 (level 1)
    assert shop.put(shop.path("/members/g/distributor"), {"active": False}).status == 200
    bind(shop, "m1", "p", WED + timedelta(minutes=1))  # g revoked at this time: p only
    assert shop.put(shop.path("/members/g/distributor"), {"active": True}).status == 200
    bind(shop, "m2", "p", WED + timedelta(minutes=2))  # g a distributor again: p and g
    clock.set_now(WED + timedelta(minutes=3))
    assert shop.put(shop.path("/members/g/distributor"), {"active": False}).status == 200
    drain_bindings()  # processed after g's second revocation: status at each binding's time counts
    # Both reached 2 with the same binding (m2): same moment, so member_id orders them.
    assert standings(shop, "total") == [("g", 2), ("p", 2)]
    assert counter("shop1", "weekly", "2026-W48", "g").fans == 2  # type: ignore[union-attr]


def test_fans_the_member_already_had_do_not_move_scores(shop: ShopCaller) -> None:
    bind(shop, "f", "m", WED)  # m already has a fan, f
    bind(shop, "m", "p", WED + timedelta(minutes=1))  # p gains m (level 1); f becomes p's level-2 fan
    drain_bindings()
    assert standings(shop, "weekly") == [("m", 1), ("p", 1)]  # not 2 for p
    assert shop.get(shop.path("/members/p")).body["fans"] == {"level1": 1, "level2": 1}


def test_a_replaced_binding_scores_the_new_inviter_and_keeps_the_old_score(shop: ShopCaller) -> None:
    clock.set_now(WED - timedelta(days=1))
    assert shop.put(shop.path("/settings/distribution"), {"binding": {"mode": "last_touch"}}).status == 200
    bind(shop, "m", "p1", WED)
    bind(shop, "m", "p2", WED + timedelta(hours=1))
    drain_bindings()
    assert standings(shop, "weekly") == [("p1", 1), ("p2", 1)]
    assert shop.get(shop.path("/members/p1")).body["fans"]["level1"] == 0  # the live fan count does move


# ---------------------------------------------------------------- periods in Asia/Shanghai


@pytest.mark.parametrize(
    ("at", "weekly", "monthly"),
    [
        (sh(2026, 11, 29, 23, 59, 59), "2026-W48", "2026-11"),  # Sunday, last second of the week
        (sh(2026, 11, 30, 0, 0, 0), "2026-W49", "2026-11"),  # Monday 00:00: a new week
        (sh(2026, 11, 30, 23, 59, 59), "2026-W49", "2026-11"),  # last second of November
        (sh(2026, 12, 1, 0, 0, 0), "2026-W49", "2026-12"),  # the 1st: a new month, same week
        (sh(2026, 12, 31, 12, 0, 0), "2026-W53", "2026-12"),
        (sh(2027, 1, 1, 12, 0, 0), "2026-W53", "2027-01"),  # ISO week of the previous year
        (sh(2027, 1, 4, 0, 0, 0), "2027-W01", "2027-01"),
    ],
)
def test_a_binding_counts_in_the_periods_that_hold_its_time(
    shop: ShopCaller, at: datetime, weekly: str, monthly: str
) -> None:
    bind(shop, "b", "a", at)
    drain_bindings()
    clock.set_now(at + timedelta(seconds=1))
    assert standings(shop, "weekly", weekly) == [("a", 1)]
    assert standings(shop, "monthly", monthly) == [("a", 1)]
    assert standings(shop, "total") == [("a", 1)]
    stored = counter("shop1", "weekly", weekly, "a")
    assert stored is not None and stored.fans == 1


def test_sunday_night_and_monday_morning_land_on_different_weeks(shop: ShopCaller) -> None:
    bind(shop, "b", "a", sh(2026, 11, 29, 23, 59, 59))
    bind(shop, "c", "a", sh(2026, 11, 30, 0, 0, 0))
    drain_bindings()
    assert standings(shop, "weekly", "2026-W48") == [("a", 1)]
    assert standings(shop, "weekly") == [("a", 1)]  # the current week, 2026-W49, starts from zero
    assert board(shop, "weekly").body["period"] == "2026-W49"
    assert standings(shop, "monthly", "2026-11") == [("a", 2)]


# ---------------------------------------------------------------- scale


def test_a_board_of_10000_distributors_reads_only_the_top_of_each_shard(shop: ShopCaller) -> None:
    clock.set_now(WED)
    base = WED - timedelta(days=1)
    counts = {f"d{i:05d}": (1 + i % 97, base + timedelta(seconds=i)) for i in range(10_000)}
    write_counters("shop1", "weekly", "2026-W48", counts)
    expected = sorted(counts, key=lambda m: (-counts[m][0], counts[m][1]))[:10]
    with measuring() as measure:
        top = standings(shop, "weekly")
    assert [m for m, _ in top] == expected
    assert [f for _, f in top] == [97] * 10
    assert measure.calls["dynamodb.Query"] == BOARD_SHARDS  # one per shard; auth and settings are gets
    with measuring() as board_only:
        found = boards.shard_standings("shop1", "weekly", "2026-W48", 10)
    assert board_only.round_trips == BOARD_SHARDS
    # the top 10 of each shard and one look-ahead item (no tie at the cut here: every reached_ms differs)
    assert board_only.read_items == len(found) == BOARD_SHARDS * (10 + 1)


# ---------------------------------------------------------------- rollover and archives


def test_rollover_archives_the_ended_week_and_reads_it_with_one_get(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    bind(shop, "c", "b", WED + timedelta(minutes=1))
    drain_bindings()
    before = standings(shop, "weekly", "2026-W48")
    monday = sh(2026, 11, 30, 0, 0, 1)
    result = run_rollover(monday)
    assert result == {"periods_archived": 2, "shops_rolled": 1}  # 2026-W48, and 2026-10 (first run)
    archive = BoardArchiveModel.get("shop1#weekly#2026-W48", "ARCHIVE")
    assert [(e["member_id"], e["fans"]) for e in archive.entries] == before
    mark = BoardRolloverModel.get("shop1#weekly", "ROLLED")
    assert mark.last_period == "2026-W48"
    clock.set_now(monday)
    with measuring() as measure:
        assert standings(shop, "weekly", "2026-W48") == before
    assert measure.calls["dynamodb.Query"] == 0
    assert measure.calls["dynamodb.GetItem"] >= 1
    # A second run at the same time archives nothing more.
    assert run_rollover(monday) == {"periods_archived": 0, "shops_rolled": 1}


def test_rollover_catches_up_after_downtime(shop: ShopCaller) -> None:
    run_rollover(sh(2026, 11, 30, 0, 0, 1))  # archives 2026-W48 (and 2026-10)
    bind(shop, "b", "a", sh(2026, 12, 2, 9))  # W49
    bind(shop, "c", "a", sh(2026, 12, 16, 9))  # W51
    drain_bindings()
    result = run_rollover(sh(2026, 12, 29, 8))  # three weeks later, in W53
    assert result["periods_archived"] == 5  # W49, W50, W51, W52 and November (December has not ended)
    keys = [f"shop1#weekly#2026-W{w}" for w in (49, 50, 51, 52)]
    archived = {k: BoardArchiveModel.get(k, "ARCHIVE").entries for k in keys}
    assert [len(v) for v in archived.values()] == [1, 0, 1, 0]
    assert BoardRolloverModel.get("shop1#weekly", "ROLLED").last_period == "2026-W52"
    assert BoardRolloverModel.get("shop1#monthly", "ROLLED").last_period == "2026-11"


def test_a_late_binding_is_counted_in_its_ended_period_and_the_archive_rewritten(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    bind(shop, "c", "z", WED + timedelta(minutes=1))
    bind(shop, "d", "z", sh(2026, 11, 29, 23, 0))  # Sunday night, W48
    late = binding_messages()
    clock.set_now(sh(2026, 11, 29, 23, 0, 1))
    for message in late[:2]:
        handle_binding_message(message)
    monday = sh(2026, 11, 30, 0, 5)
    run_rollover(monday)
    assert [e["member_id"] for e in BoardArchiveModel.get("shop1#weekly#2026-W48", "ARCHIVE").entries] == [
        "a",
        "z",
    ]
    clock.set_now(monday + timedelta(minutes=1))
    handle_binding_message(late[2])  # processed after the rollover
    archive = BoardArchiveModel.get("shop1#weekly#2026-W48", "ARCHIVE")
    assert [(e["member_id"], e["fans"]) for e in archive.entries] == [("z", 2), ("a", 1)]
    assert archive.version == 2
    assert standings(shop, "weekly", "2026-W48") == [("z", 2), ("a", 1)]
    assert standings(shop, "weekly") == []  # nothing in W49
    # A repeat of the late message moves nothing (it only rewrites the archive with the same standings).
    handle_binding_message(late[2])
    assert standings(shop, "weekly", "2026-W48") == [("z", 2), ("a", 1)]
    assert counter("shop1", "weekly", "2026-W48", "z").fans == 2  # type: ignore[union-attr]


def test_a_late_binding_before_the_rollover_creates_the_archive(shop: ShopCaller) -> None:
    bind(shop, "b", "a", sh(2026, 11, 29, 23, 59, 59))
    clock.set_now(sh(2026, 11, 30, 0, 0, 2))
    drain_bindings()
    archive = BoardArchiveModel.get("shop1#weekly#2026-W48", "ARCHIVE")
    assert [(e["member_id"], e["fans"]) for e in archive.entries] == [("a", 1)]
    run_rollover(sh(2026, 11, 30, 0, 1))
    assert BoardArchiveModel.get("shop1#weekly#2026-W48", "ARCHIVE").entries == archive.entries


def test_an_ended_period_not_yet_archived_is_read_from_the_shards(shop: ShopCaller) -> None:
    bind(shop, "b", "a", WED)
    drain_bindings()
    clock.set_now(sh(2026, 12, 10, 12))
    assert standings(shop, "weekly", "2026-W48") == [("a", 1)]
    assert standings(shop, "monthly", "2026-11") == [("a", 1)]
