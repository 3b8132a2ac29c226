"""Ties at the per-shard cut (SPEC §5): members with the same score as the last one a shard query would keep
are read too, so the board's tie-break (member_id, after fans and the moment reached) decides, not the
order in which the index happens to return equal scores."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fenxiao import clock
from fenxiao.adapters import leaderboard as boards
from fenxiao.adapters.leaderboard import BOARD_SHARDS
from fenxiao.domain.periods import SHANGHAI
from fenxiao.service import leaderboard
from tests.bench.counting import measuring
from tests.support.app import ShopCaller
from tests.support.leaderboard import standings, write_counters

pytestmark = pytest.mark.integration

WED = datetime(2026, 11, 25, 10, tzinfo=SHANGHAI)
REACHED = WED - timedelta(hours=1)


def members_in_shard(shard: int, count: int, prefix: str) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < count:
        candidate = f"{prefix}{i:04d}"
        if boards.shard_of(candidate) == shard:
            found.append(candidate)
        i += 1
    return found


def test_a_tie_at_the_cut_is_resolved_by_member_id_not_by_index_order(shop: ShopCaller) -> None:
    clock.set_now(WED)
    tied = members_in_shard(0, 25, "m")  # 25 members of one shard, same fans reached at the same ms
    below = members_in_shard(0, 15, "z")  # fewer fans, same shard
    counts = {m: (5, REACHED) for m in reversed(tied)} | {m: (4, REACHED) for m in below}
    write_counters("shop1", "weekly", "2026-W48", counts)
    # display_count 10 (the default): the 10 smallest member_ids of the 25 tied ones, whatever the index order
    assert standings(shop, "weekly") == [(m, 5) for m in sorted(tied)[:10]]
    with measuring() as measure:
        found = boards.shard_standings("shop1", "weekly", "2026-W48", 10)
    # shard 0: every tied member and one look-ahead item that does not tie; the other shards are empty
    assert sorted(s.member_id for s in found if s.fans == 5) == sorted(tied)
    assert [s.fans for s in found].count(4) == 1
    # shard 0 reads on: pages of 11 items, 25 tied + 1 look-ahead in the third; one query per other shard
    assert measure.calls["dynamodb.Query"] == 3 + (BOARD_SHARDS - 1)
    assert measure.read_items == 33 and len(found) == 26


def test_the_archive_keeps_the_right_tied_members(shop: ShopCaller) -> None:
    tied = members_in_shard(1, 30, "t")
    counts = {m: (3, REACHED) for m in reversed(tied)}
    write_counters("shop1", "weekly", "2026-W48", counts)
    top = leaderboard.refresh_archive("shop1", "weekly", "2026-W48", datetime(2026, 11, 30, tzinfo=SHANGHAI))
    assert [s.member_id for s in top] == sorted(tied)[: leaderboard.ARCHIVE_SIZE]


def test_without_ties_a_shard_query_reads_one_item_past_the_cut(shop: ShopCaller) -> None:
    members = members_in_shard(2, 15, "u")
    counts = {m: (1 + i, REACHED) for i, m in enumerate(members)}
    write_counters("shop1", "weekly", "2026-W48", counts)
    with measuring() as measure:
        found = boards.shard_standings("shop1", "weekly", "2026-W48", 10)
    assert measure.calls["dynamodb.Query"] == BOARD_SHARDS
    assert measure.read_items == len(found) == 11
    assert sorted(s.fans for s in found) == list(range(5, 16))
