"""Fan leaderboards (SPEC §5, 分销粉丝榜): scoring bindings, reading boards, archiving ended periods.

The board items and their keys are in adapters/leaderboard.py (see docs/leaderboards.md): a counter per
member, board and period on one of ``BOARD_SHARDS`` shards (the top N is one query per shard, merged), an
archive per ended period, a scored marker per binding, a rollover mark per shop and board.

Scores live under their period's key, so a new period starts empty and a reset writes nothing per
distributor. Scores only ever grow: a replaced binding does not take the old inviter's point back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fenxiao import clock
from fenxiao.adapters import leaderboard as boards
from fenxiao.adapters.members import load_binding, load_member
from fenxiao.adapters.shops import shop_ids
from fenxiao.adapters.unit_of_work import UnitOfWork, WriteConflict
from fenxiao.bootstrap import container
from fenxiao.domain.errors import InvalidInput, NotFound
from fenxiao.domain.leaderboard import ScoreTarget, Standing, binding_scores, rank
from fenxiao.domain.periods import Board, ended_periods, parse_board, parse_period, period_bounds, period_key
from fenxiao.observability import logger
from fenxiao.service import settings
from fenxiao.service.jobs import Page
from fenxiao.service.members import is_distributor_at
from fenxiao.timefmt import from_key, rfc3339

ARCHIVE_SIZE = 20  # the largest display_count: an archive can answer any board setting
ROLLING_BOARDS: tuple[Board, ...] = ("weekly", "monthly")  # the total board never ends
MAX_ATTEMPTS = 8  # optimistic retries (transaction conflicts, concurrent archive rewrites)
SHOPS_PER_PAGE = 25  # rollover: shops per job page
PERIODS_PER_PAGE = 12  # rollover: ended periods per board and shop per page (catch-up continues next page)
LATE_MARGIN = timedelta(seconds=60)
"""A binding committed this close to its period's end (or after it) rewrites the period's archive itself:
the rollover may have read the shards before the commit, or before the index showed it (GSIs lag well
under a second; the margin leaves room)."""


# Cancellation reasons a scoring transaction retries on (any other reason is an error).
_RETRYABLE = {None, "None", "ConditionalCheckFailed", "TransactionConflict"}


class BoardContention(Exception):
    """Too many concurrent writers on one board item; the message is retried by the queue."""


# ---------------------------------------------------------------- scoring a binding


@dataclass(frozen=True)
class ScoreResult:
    """What one binding message did: ``scored`` False for a repeat (or an unknown binding)."""

    scored: bool
    targets: list[ScoreTarget]
    archives_refreshed: list[str]


def score_binding(
    shop_id: str,
    member_id: str,
    bound_at: str,
    now: datetime,
    read_clock: Callable[[], datetime] = clock.now,
) -> ScoreResult:
    """Score the binding ``BIND#{bound_at}`` of ``member_id`` on every board, exactly once.

    The binding scores 1 for its inviter and 1 for the inviter's own inviter if a distributor at the
    binding's time, on the period of each board that holds it. The marker put and the ≤ 6 counter updates
    are one transaction, so a repeated message finds the marker and moves nothing. Everything the targets
    depend on is history as of the binding's time, so a repeat computes the same targets.

    A binding whose period has ended, or ends within ``LATE_MARGIN``, by the clock read *after* the commit
    (``read_clock``; ``now`` is when the run started) rewrites that period's archive at once, also on a
    repeat, in case the first run stopped before. Deciding with the start time would miss the case of a
    run started at 23:59:59 whose commit lands after the rollover read the shards.
    """
    binding = load_binding(shop_id, member_id, bound_at)
    if binding is None:
        logger().warning(
            "binding message for an unknown binding", extra={"shop_id": shop_id, "bound_at": bound_at}
        )
        return ScoreResult(False, [], [])
    at = from_key(binding.bound_at)
    targets = binding_targets(shop_id, binding.inviter_id, at)
    scored = _apply(shop_id, member_id, binding.bound_at, at, targets, now)
    committed = max(now, read_clock())  # read after the commit: the rollover may have run meanwhile
    refreshed: list[str] = []
    for (board, period), members in _by_period(targets).items():
        _, ends_at = period_bounds(board, period)
        if ends_at is not None and ends_at <= committed + LATE_MARGIN:
            refresh_archive(shop_id, board, period, committed, changed=members)
            refreshed.append(f"{board}:{period}")
    if refreshed:
        logger().info(
            "binding at a period's end: archives rewritten", extra={"shop_id": shop_id, "periods": refreshed}
        )
    return ScoreResult(scored, targets, refreshed)


def binding_targets(shop_id: str, inviter_id: str, at: datetime) -> list[ScoreTarget]:
    """The ≤ 6 scores a binding to ``inviter_id`` at ``at`` moves (domain ``binding_scores``)."""
    grand_inviter = load_member(shop_id, inviter_id).inviter_at(at)
    grand_is_distributor = False
    if grand_inviter is not None:
        mode = settings.distribution_at(shop_id, at).eligibility.mode
        grand_is_distributor = is_distributor_at(load_member(shop_id, grand_inviter), at, mode)
    return binding_scores(inviter_id, grand_inviter, grand_is_distributor, at)


def _apply(
    shop_id: str, member_id: str, bound_at: str, at: datetime, targets: list[ScoreTarget], now: datetime
) -> bool:
    """One transaction: the marker (``attribute_not_exists``) and one UpdateItem per target counter.

    A counter's ``reached_at`` is the latest binding it counts (domain ``score_with_new_fan``), which an
    update expression cannot compute as a max: each counter is written either as "reached now" (condition
    ``reached_at <= t``) or "reached earlier, keep it" (condition ``reached_at > t``). The first guess is
    right unless messages arrive out of order; a failed guess is flipped and the transaction retried.
    """
    keep_reached: set[ScoreTarget] = set()
    for attempt in range(MAX_ATTEMPTS):
        uow = UnitOfWork(now)
        marker, once = boards.new_scored_marker(shop_id, member_id, bound_at, now)
        uow.save("scored", marker, condition=once)
        labels: dict[str, ScoreTarget] = {}
        for target in targets:
            label = f"score:{target.board}:{target.member_id}"
            labels[label] = target
            uow.update(label, *boards.counter_update(shop_id, target, at, keep=target in keep_reached))
        try:
            uow.commit()
            return True
        except WriteConflict as conflict:
            failed = conflict.failed()
            if "scored" in failed:
                return False
            if set(conflict.reasons) - _RETRYABLE:
                raise
            flipped = [labels[label] for label in failed if label in labels]
            keep_reached.symmetric_difference_update(flipped)
            if not flipped:  # a concurrent transaction on the same items: back off and retry
                time.sleep(0.02 * 2**attempt)
    raise BoardContention(
        f"could not score {member_id}'s binding at {bound_at} after {MAX_ATTEMPTS} attempts"
    )


def _by_period(targets: Iterable[ScoreTarget]) -> dict[tuple[Board, str], list[str]]:
    out: dict[tuple[Board, str], list[str]] = {}
    for target in targets:
        out.setdefault((target.board, target.period), []).append(target.member_id)
    return out


# ---------------------------------------------------------------- the board view


def board_view(shop_id: str, board_name: str, period_text: str | None, now: datetime) -> dict[str, Any]:
    """``GET /shops/{s}/leaderboards/{board}?period=``: the top ``display_count`` of one period.

    An ended period that is archived is one GetItem; the current period (and an ended one the rollover has
    not reached yet) is read from the shards. A period that has not started is 404.
    """
    try:
        board = parse_board(board_name)
    except InvalidInput:
        raise NotFound(
            f"no leaderboard {board_name!r}: boards are weekly, monthly and total", code="board_not_found"
        ) from None
    period = period_key(board, now) if period_text is None else parse_period(board, period_text)
    starts_at, ends_at = period_bounds(board, period)
    if starts_at is not None and starts_at > now:
        raise NotFound(f"the {board} period {period} has not started yet", code="period_not_started")
    shown = settings.distribution_at(shop_id, now).leaderboard
    archive = (
        boards.load_archive(shop_id, board, period, consistent=False)
        if ends_at is not None and ends_at <= now
        else None
    )
    if archive is not None:
        standings = boards.archived_standings(archive)
    else:
        standings = boards.shard_standings(shop_id, board, period, shown.display_count)
    return {
        "board": board,
        "period": period,
        "starts_at": rfc3339(starts_at),
        "ends_at": rfc3339(ends_at),
        "reward_text": getattr(shown.reward_text, board),
        "entries": [
            {"rank": place, "member_id": s.member_id, "fans": s.fans}
            for place, s in rank(standings, shown.display_count)
        ],
    }


# ---------------------------------------------------------------- archives and the rollover job


def refresh_archive(
    shop_id: str, board: Board, period: str, now: datetime, changed: Iterable[str] = ()
) -> list[Standing]:
    """(Re)write the period's archive: its top ``ARCHIVE_SIZE`` from the shards, merged with the archive
    already there and with the ``changed`` members' counters read consistently (the index may lag a write
    just made). Scores only grow, so the best standing seen of each member is the newest. Conditional on
    the archive's ``version``: of two concurrent rewrites, the loser reads again and merges."""
    changed = list(changed)
    for _ in range(MAX_ATTEMPTS):
        current = boards.load_archive(shop_id, board, period, consistent=True)
        standings = boards.shard_standings(shop_id, board, period, ARCHIVE_SIZE)
        if current is not None:
            standings += boards.archived_standings(current)
        standings += boards.fresh_standings(shop_id, board, period, changed)
        top = [s for _, s in rank(standings, ARCHIVE_SIZE)]
        version = int(current.version) if current is not None else None
        if boards.save_archive(shop_id, board, period, top, now, version):
            return top
    raise BoardContention(f"archive {shop_id} {board} {period}: too many concurrent rewrites")


def roll_over_shop(shop_id: str, now: datetime, limit: int = PERIODS_PER_PAGE) -> tuple[int, bool]:
    """Archive every ended period of the shop's weekly and monthly boards not archived yet (at most
    ``limit`` per board). Returns (periods archived, whether more remain). Cost per shop and period, never
    per distributor: BOARD_SHARDS queries of ``ARCHIVE_SIZE`` items, one put, one marker update."""
    archived, more = 0, False
    for board in ROLLING_BOARDS:
        mark = boards.load_rollover_mark(shop_id, board)
        periods = ended_periods(board, mark.last_period if mark else None, now, limit=limit)
        for period in periods:
            refresh_archive(shop_id, board, period, now)
            boards.set_rollover_mark(shop_id, board, period, now)
            archived += 1
        more = more or len(periods) >= limit
    return archived, more


def rollover_page(now: datetime, cursor: dict[str, Any] | None) -> Page:
    """Job ``leaderboard-rollover``: up to SHOPS_PER_PAGE shops of the AllShops index per page. The cursor
    is ``{"after": shop}`` (the next shops) or ``{"from": shop}`` (a shop whose catch-up goes on)."""
    container()  # tables bound to their names, also when a timer starts the job in a fresh container
    cursor = cursor or {}
    start = cursor.get("from") or cursor.get("after")
    shops = shop_ids(str(start) if start else None, inclusive=bool(cursor.get("from")), limit=SHOPS_PER_PAGE)
    archived, rolled = 0, 0
    for shop_id in shops:
        count, more = roll_over_shop(shop_id, now)
        archived += count
        if more:
            return Page(archived, {"shops_rolled": rolled, "periods_archived": archived}, {"from": shop_id})
        rolled += 1
    next_cursor = {"after": shops[-1]} if len(shops) >= SHOPS_PER_PAGE else None
    return Page(archived, {"shops_rolled": rolled, "periods_archived": archived}, next_cursor)
