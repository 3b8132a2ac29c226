"""SPEC §5: one number per member and period sorts the board by fans, then by who reached the count first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.leaderboard import (
    SCORE_SCALE,
    ScoreTarget,
    Standing,
    binding_scores,
    decode_score,
    rank,
    score_delta,
    score_for,
    score_with_new_fan,
    unix_ms,
)
from fenxiao.domain.periods import SHANGHAI

pytestmark = pytest.mark.unit

T = datetime(2026, 11, 25, 10, 30, 0, 123456, tzinfo=SHANGHAI)  # = 02:30:00.123 UTC
T_MS = 1_795_573_800_123  # date -u -d 2026-11-25T02:30:00Z +%s, then .123


def test_score_encoding_worked_example() -> None:
    assert unix_ms(T) == T_MS
    # 3 fans reached at T: 3 * 10**13 - 1795573800123 = 28204426199877
    assert score_for(3, T) == 3 * SCORE_SCALE - T_MS == 28_204_426_199_877
    assert decode_score(28_204_426_199_877) == (3, T_MS)
    assert decode_score(Decimal("28204426199877")) == (3, T_MS)


def test_more_fans_always_beat_earlier_time() -> None:
    early = datetime(1970, 1, 1, tzinfo=UTC)
    late = datetime(2286, 11, 20, tzinfo=UTC)
    assert score_for(2, late) > score_for(1, early)


def test_equal_fans_earlier_reach_wins() -> None:
    assert score_for(5, T) > score_for(5, T + timedelta(milliseconds=1))


def test_score_range_checks() -> None:
    with pytest.raises(ValueError):
        score_for(-1, T)
    with pytest.raises(ValueError):
        score_for(1, datetime(1969, 12, 31, tzinfo=UTC))
    with pytest.raises(ValueError):
        score_for(1, datetime(2286, 11, 21, tzinfo=UTC))
    with pytest.raises(ValueError):
        decode_score(Decimal("1.5"))
    with pytest.raises(ValueError):
        unix_ms(datetime(2026, 1, 1))


moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(st.integers(0, 10**9), moments)
def test_decode_inverts_encode(fans: int, at: datetime) -> None:
    assert decode_score(score_for(fans, at)) == (fans, unix_ms(at))
    assert decode_score(Decimal(score_for(fans, at))) == (fans, unix_ms(at))


@given(st.integers(0, 10**6), moments, st.integers(0, 10**6), moments)
def test_score_order_is_board_order(fans_a: int, at_a: datetime, fans_b: int, at_b: datetime) -> None:
    by_score = score_for(fans_a, at_a) > score_for(fans_b, at_b)
    by_rule = (fans_a, -unix_ms(at_a)) > (fans_b, -unix_ms(at_b))
    assert by_score == by_rule


def test_new_fan_moves_the_score_and_the_reached_time() -> None:
    first = score_with_new_fan(None, T)
    assert decode_score(first) == (1, T_MS)
    second = score_with_new_fan(first, T + timedelta(seconds=1))
    assert decode_score(second) == (2, T_MS + 1000)
    assert score_delta(first, T + timedelta(seconds=1)) == second - first
    # SCORE_SCALE for the fan, minus the 1000 ms by which the new count was reached later
    assert second - first == SCORE_SCALE - 1000
    assert score_delta(None, T) == first


@given(st.lists(moments, min_size=1, max_size=8), st.randoms())
def test_bindings_in_any_processing_order_give_one_score(bound: list[datetime], random: object) -> None:
    shuffled = list(bound)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    in_order: int | None = None
    for at in bound:
        in_order = score_with_new_fan(in_order, at)
    any_order: int | None = None
    for at in shuffled:
        any_order = score_with_new_fan(any_order, at)
    assert in_order == any_order == score_for(len(bound), max(bound))


# --- ranking ------------------------------------------------------------------------------------------


def test_rank_merges_shards_and_breaks_ties() -> None:
    shard_a = [Standing("ann", 5, 2000), Standing("bob", 3, 1000)]
    shard_b = [Standing("cat", 5, 1000), Standing("dan", 3, 1000), Standing("eve", 0, 10)]
    ranked = rank([*shard_a, *shard_b], display_count=10)
    assert [(place, s.member_id) for place, s in ranked] == [
        (1, "cat"),  # 5 fans, reached at 1000
        (2, "ann"),  # 5 fans, reached later
        (3, "bob"),  # 3 fans at 1000, same moment as dan: member_id decides, consistently
        (4, "dan"),
    ]  # eve has no fans and is not listed


def test_rank_cuts_at_display_count() -> None:
    standings = [Standing(f"m{i:02d}", 100 - i, i) for i in range(30)]
    ranked = rank(standings, display_count=20)
    assert [place for place, _ in ranked] == list(range(1, 21))
    assert ranked[-1][1].member_id == "m19"
    assert rank(standings, 0) == []
    with pytest.raises(ValueError):
        rank(standings, -1)


def test_a_member_listed_twice_keeps_the_best_standing() -> None:
    ranked = rank([Standing("ann", 2, 50), Standing("ann", 4, 90), Standing("bob", 3, 10)], 5)
    assert [(s.member_id, s.fans) for _, s in ranked] == [("ann", 4), ("bob", 3)]


@given(
    st.lists(
        st.builds(Standing, st.sampled_from("abcdefghij"), st.integers(0, 5), st.integers(0, 5)), max_size=30
    ),
    st.integers(1, 20),
)
def test_rank_is_sorted_consecutive_and_independent_of_input_order(
    standings: list[Standing], count: int
) -> None:
    ranked = rank(standings, count)
    assert [place for place, _ in ranked] == list(range(1, len(ranked) + 1))
    keys = [(-s.fans, s.reached_ms, s.member_id) for _, s in ranked]
    assert keys == sorted(keys)
    assert len({s.member_id for _, s in ranked}) == len(ranked)
    assert rank(list(reversed(standings)), count) == ranked


# --- which scores a binding moves ---------------------------------------------------------------------


def test_binding_scores_inviter_and_distributor_grand_inviter() -> None:
    # Sunday 2026-11-29 23:30 Shanghai: week 48, November
    t = datetime(2026, 11, 29, 15, 30, tzinfo=UTC)
    assert binding_scores("P", "G", True, t) == [
        ScoreTarget("weekly", "2026-W48", "P"),
        ScoreTarget("monthly", "2026-11", "P"),
        ScoreTarget("total", "total", "P"),
        ScoreTarget("weekly", "2026-W48", "G"),
        ScoreTarget("monthly", "2026-11", "G"),
        ScoreTarget("total", "total", "G"),
    ]


def test_binding_scores_skip_a_grand_inviter_who_is_not_a_distributor() -> None:
    t = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Tuesday 2026-12-01 00:00 Shanghai
    expected = [("weekly", "2026-W49", "P"), ("monthly", "2026-12", "P"), ("total", "total", "P")]
    assert binding_scores("P", "G", False, t) == expected
    assert binding_scores("P", None, True, t) == expected
