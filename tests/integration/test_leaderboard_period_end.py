"""A binding scored at its period's end (SPEC §5, late events): the archive is right whatever the order of
the consumer's commit and the rollover's shard reads. The interleavings are forced with the clock override
and by running the rollover from inside the consumer, between its reads and its commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from fenxiao import clock
from fenxiao.adapters import leaderboard as boards
from fenxiao.adapters.leaderboard import BoardArchiveModel
from fenxiao.domain.periods import SHANGHAI
from fenxiao.entry.consumers import handle_binding_message
from fenxiao.service import leaderboard
from tests.support.app import ShopCaller
from tests.support.leaderboard import bind, binding_messages, run_rollover, standings

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=SHANGHAI)  # 2026-W48 ends, 2026-W49 starts
W48 = "2026-W48"


def archived(board: str = "weekly", period: str = W48) -> list[tuple[str, int]]:
    archive = BoardArchiveModel.get(f"shop1#{board}#{period}", "ARCHIVE", consistent_read=True)
    return [(e["member_id"], e["fans"]) for e in archive.entries]


def rollover_before_the_commit(
    monkeypatch: pytest.MonkeyPatch, rollover_at: datetime, commit_at: datetime
) -> list[dict[str, int]]:
    """Make the consumer's commit land after a rollover run: the rollover reads the shards first."""
    original: Callable[..., bool] = leaderboard._apply
    runs: list[dict[str, int]] = []

    def slow_commit(*args: Any) -> bool:
        runs.append(run_rollover(rollover_at))
        clock.set_now(commit_at)
        return original(*args)

    monkeypatch.setattr(leaderboard, "_apply", slow_commit)
    return runs


def test_a_commit_that_lands_after_the_rollover_rewrites_the_archive(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    bind(shop, "b", "z", MONDAY - timedelta(days=1))  # z: a fan earlier in the week
    handle_binding_message(binding_messages()[0])
    # a's binding at 23:58:00 Sunday; the consumer starts well before the end (outside LATE_MARGIN), but its
    # commit is slow (throttled, retried) and lands at 00:00:03, after the rollover read the shards.
    bind(shop, "c", "a", MONDAY - timedelta(minutes=2))
    bind(shop, "d", "a", MONDAY - timedelta(minutes=2) + timedelta(seconds=1))
    first, second = binding_messages()
    handle_binding_message(first)
    runs = rollover_before_the_commit(
        monkeypatch, MONDAY + timedelta(seconds=1), MONDAY + timedelta(seconds=3)
    )
    clock.set_now(MONDAY - timedelta(minutes=2) + timedelta(seconds=2))
    handle_binding_message(second)
    assert runs == [{"periods_archived": 2, "shops_rolled": 1}]  # W48 and (first run) 2026-10
    # The rollover archived a with 1 fan; the consumer, reading the clock after its commit, rewrote it.
    assert archived() == [("a", 2), ("z", 1)]
    assert standings(shop, "weekly", W48) == [("a", 2), ("z", 1)]  # the archive: one GetItem
    monkeypatch.undo()
    assert run_rollover(MONDAY + timedelta(minutes=1)) == {"periods_archived": 0, "shops_rolled": 1}
    assert archived() == [("a", 2), ("z", 1)]


def test_the_decision_uses_the_clock_after_the_commit_not_the_start(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    bind(shop, "b", "a", MONDAY - timedelta(minutes=5))
    (message,) = binding_messages()
    rollover_before_the_commit(monkeypatch, MONDAY + timedelta(seconds=1), MONDAY + timedelta(seconds=2))
    start = MONDAY - timedelta(minutes=4)
    result = leaderboard.score_binding(
        message["shop_id"], message["member_id"], message["bound_at"], start, read_clock=clock.now
    )
    assert result.scored
    assert result.archives_refreshed == [f"weekly:{W48}"]  # November has not ended
    assert archived() == [("a", 1)]


def test_a_commit_just_before_the_end_writes_the_archive_the_rollover_merges(
    shop: ShopCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed 0.5 s before the end, when the rollover's index read may not show it yet (a GSI lags):
    the consumer, within LATE_MARGIN of the end, writes the archive with its consistent read itself."""
    bind(shop, "b", "a", MONDAY - timedelta(seconds=1))
    (message,) = binding_messages()
    clock.set_now(MONDAY - timedelta(milliseconds=500))
    handle_binding_message(message)
    assert archived() == [("a", 1)]  # written before the end, merged by every later rewrite
    # The rollover at 00:00:00 whose index does not show a yet (moto's index has no lag: hide a from it).
    original = boards.shard_standings

    def lagging_index(*args: Any) -> list[Any]:
        return [s for s in original(*args) if s.member_id != "a"]

    monkeypatch.setattr(boards, "shard_standings", lagging_index)
    assert run_rollover(MONDAY)["periods_archived"] == 2
    monkeypatch.undo()
    assert archived() == [("a", 1)]
    clock.set_now(MONDAY + timedelta(seconds=1))
    assert standings(shop, "weekly", W48) == [("a", 1)]


def test_a_binding_long_before_the_end_writes_no_archive(shop: ShopCaller) -> None:
    bind(shop, "b", "a", MONDAY - timedelta(minutes=5))
    (message,) = binding_messages()
    clock.set_now(MONDAY - timedelta(minutes=5) + timedelta(seconds=1))
    result = leaderboard.score_binding(
        message["shop_id"], message["member_id"], message["bound_at"], clock.now(), read_clock=clock.now
    )
    assert result.scored and result.archives_refreshed == []
    with pytest.raises(BoardArchiveModel.DoesNotExist):
        BoardArchiveModel.get(f"shop1#weekly#{W48}", "ARCHIVE")
