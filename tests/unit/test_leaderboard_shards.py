"""Leaderboard counter keys: a member's shard is stable across processes and members spread evenly."""

from __future__ import annotations

import zlib
from collections import Counter

import pytest

from fenxiao.adapters.leaderboard import BOARD_SHARDS, archive_key, counter_key, scored_key, shard_of

pytestmark = pytest.mark.unit


def test_shard_is_crc32_of_the_member_id() -> None:
    # Not Python's hash(), which changes from process to process.
    assert shard_of("member-a") == zlib.crc32(b"member-a") % BOARD_SHARDS
    assert (
        counter_key("shop1", "weekly", "2026-W48", "member-a")
        == f"shop1#weekly#2026-W48#{shard_of('member-a')}"
    )


def test_members_spread_over_every_shard() -> None:
    counts = Counter(shard_of(f"m{i}") for i in range(10_000))
    assert set(counts) == set(range(BOARD_SHARDS))
    assert max(counts.values()) < 1.1 * 10_000 / BOARD_SHARDS


def test_keys_of_different_items_never_meet() -> None:
    keys = {
        counter_key("s", "weekly", "2026-W48", "m"),
        archive_key("s", "weekly", "2026-W48"),
        scored_key("s", "m"),
        "s#weekly",  # rollover mark
    }
    assert len(keys) == 4
