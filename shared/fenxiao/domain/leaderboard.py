"""Fan leaderboard scores (SPEC §5, 分销粉丝榜).

One stored number per (board, period, member) sorts the board: more fans first, and among equal fans whoever
reached that count first. ``score = fans * SCORE_SCALE - reached_ms``, where ``reached_ms`` is the unix
time in milliseconds at which the member reached ``fans``: a higher score is a better place. The scale
leaves room for any millisecond before the year 2286, and the score stays an exact integer within
DynamoDB's 38 significant digits for any realistic fan count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from fenxiao.domain.periods import BOARDS, Board, period_key

SCORE_SCALE = 10**13
"""Milliseconds fit below it until 2286-11-20; one fan is worth more than any time difference."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Standing:
    """One member's place on a board: ``fans`` reached at ``reached_ms`` (unix milliseconds)."""

    member_id: str
    fans: int
    reached_ms: int


class ScoreTarget(NamedTuple):
    """One score a binding moves: the member's row on one board's period."""

    board: Board
    period: str
    member_id: str


def unix_ms(moment: datetime) -> int:
    """Unix time of ``moment`` in whole milliseconds (floor), exact (no float)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    return (moment - _EPOCH) // _MILLISECOND


def score_for(fans: int, reached_at: datetime) -> int:
    """``fans * SCORE_SCALE - reached_ms``: the stored score of ``fans`` reached at ``reached_at``."""
    return _encode(fans, unix_ms(reached_at))


def decode_score(score: int | Decimal) -> tuple[int, int]:
    """``(fans, reached_ms)`` back from a stored score (DynamoDB gives numbers as ``Decimal``)."""
    value = _as_int(score)
    fans = -(-value // SCORE_SCALE)  # ceil, since 0 <= reached_ms < SCORE_SCALE
    return fans, fans * SCORE_SCALE - value


def score_with_new_fan(score: int | Decimal | None, bound_at: datetime) -> int:
    """The score after one more fan bound at ``bound_at`` (None: the member had no score yet).

    The count is reached at the latest of the bindings that make it, so the result does not depend on
    the order in which bindings are processed.
    """
    fans, reached_ms = decode_score(score) if score is not None else (0, 0)
    return _encode(fans + 1, max(reached_ms, unix_ms(bound_at)))


def score_delta(score: int | Decimal | None, bound_at: datetime) -> int:
    """What to ``ADD`` to a stored score (conditioned on it still being ``score``) for one more fan."""
    before = 0 if score is None else _as_int(score)
    return score_with_new_fan(score, bound_at) - before


def rank(standings: Iterable[Standing], display_count: int) -> list[tuple[int, Standing]]:
    """Merge shards' top lists into the board's top ``display_count``: fans descending, then who reached
    the count first (``reached_ms`` ascending), then ``member_id``; ranks 1..n with no gaps and no shared
    ranks. Members with no fans are not listed; a member listed twice keeps their best standing."""
    if display_count < 0:
        raise ValueError("display_count must not be negative")
    best: dict[str, Standing] = {}
    for standing in standings:
        if standing.fans <= 0:
            continue
        known = best.get(standing.member_id)
        if known is None or _order(standing) < _order(known):
            best[standing.member_id] = standing
    ordered = sorted(best.values(), key=_order)[:display_count]
    return list(enumerate(ordered, start=1))


def binding_scores(
    inviter_id: str, grand_inviter_id: str | None, grand_inviter_is_distributor: bool, t: datetime
) -> list[ScoreTarget]:
    """The scores a binding at ``t`` moves by one: the inviter's (level 1) and, if a distributor at ``t``,
    the inviter's own inviter's (level 2), on the period of every board that holds ``t``."""
    members = [inviter_id]
    if grand_inviter_id is not None and grand_inviter_is_distributor and grand_inviter_id != inviter_id:
        members.append(grand_inviter_id)
    return [ScoreTarget(board, period_key(board, t), member_id) for member_id in members for board in BOARDS]


def _encode(fans: int, reached_ms: int) -> int:
    if fans < 0:
        raise ValueError("fans must not be negative")
    if not 0 <= reached_ms < SCORE_SCALE:
        raise ValueError(f"reached_ms {reached_ms} out of range")
    return fans * SCORE_SCALE - reached_ms


def _as_int(score: int | Decimal) -> int:
    if isinstance(score, Decimal):
        if not score.is_finite() or score != score.to_integral_value():
            raise ValueError(f"a score is an integer, got {score}")
        return int(score)
    return score


def _order(standing: Standing) -> tuple[int, int, str]:
    return -standing.fans, standing.reached_ms, standing.member_id
