"""Leaderboard periods (SPEC §1, §5): ISO weeks and calendar months in Asia/Shanghai, and ``total``.

Keys: weekly ``2026-W48`` (ISO year and week: a week starts Monday 00:00 Asia/Shanghai, and the ISO year
can differ from the calendar year around New Year, e.g. 2026-12-31 is in 2026-W53 and 2027-01-01 too),
monthly ``2026-11``, total ``total``. Keys of one board sort as text in time order. Bounds are
Asia/Shanghai-aware datetimes, ``starts_at`` inclusive and ``ends_at`` exclusive (the next period's start).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from fenxiao.domain.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")

Board = Literal["weekly", "monthly", "total"]
BOARDS: tuple[Board, ...] = get_args(Board)
TOTAL = "total"

MIN_YEAR = 1970
MAX_YEAR = 9998  # so that the next period of any valid key is still a valid key
MAX_ENDED_PERIODS = 60

_WEEK_KEY = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH_KEY = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_board(text: str) -> Board:
    """``weekly``, ``monthly`` or ``total``; anything else raises ``InvalidInput`` on ``board``."""
    for board in BOARDS:
        if text == board:
            return board
    raise InvalidInput("board must be weekly, monthly or total", field="board")


def period_key(board: Board, t: datetime) -> str:
    """The key of the ``board`` period that holds instant ``t`` (timezone-aware, any offset)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("t must be timezone-aware")
    local = t.astimezone(SHANGHAI)
    if board == "weekly":
        return _week_key(local.date())
    if board == "monthly":
        return f"{local.year:04d}-{local.month:02d}"
    return TOTAL


def parse_period(board: Board, key: str) -> str:
    """Check that ``key`` names a period of ``board`` and return it: ``YYYY-Www`` with a week that exists
    in that ISO year (W53 only in long years), ``YYYY-MM`` with month 01..12, or ``total``; years
    1970..9998. Anything else raises ``InvalidInput`` on ``period``."""
    if board == "weekly":
        _week_start(key)
    elif board == "monthly":
        _month_start(key)
    elif key != TOTAL:
        raise InvalidInput("the total board has one period, 'total'", field="period")
    return key


def period_bounds(board: Board, key: str) -> tuple[datetime | None, datetime | None]:
    """``(starts_at, ends_at)`` of a period in Asia/Shanghai, ``ends_at`` exclusive; total: ``(None, None)``."""
    if board == "weekly":
        monday = _week_start(key)
        return _midnight(monday), _midnight(monday + timedelta(days=7))
    if board == "monthly":
        first = _month_start(key)
        return _midnight(first), _midnight(_add_months(first, 1))
    parse_period(board, key)
    return None, None


def next_period(board: Board, key: str) -> str:
    """The period right after ``key``. The total board has no other period: ``ValueError``."""
    if board == "weekly":
        return _week_key(_week_start(key) + timedelta(days=7))
    if board == "monthly":
        return _month_key(_add_months(_month_start(key), 1))
    raise ValueError("the total board has no next period")


def previous_period(board: Board, key: str) -> str:
    """The period right before ``key``. The total board has no other period: ``ValueError``."""
    if board == "weekly":
        return _week_key(_week_start(key) - timedelta(days=7))
    if board == "monthly":
        return _month_key(_add_months(_month_start(key), -1))
    raise ValueError("the total board has no previous period")


def ended_periods(
    board: Board, last_rolled_key: str | None, now: datetime, limit: int = MAX_ENDED_PERIODS
) -> list[str]:
    """The periods a rollover job still has to archive, oldest first: every period after
    ``last_rolled_key`` that has ended by ``now`` (``ends_at <= now``), at most ``limit`` of them (the job
    catches up on its next runs). With no period rolled yet, only the period that ended most recently.
    The total board never ends: ``[]``."""
    if board == "total":
        return []
    current = period_key(board, now)
    if last_rolled_key is None:
        return [previous_period(board, current)]
    ended: list[str] = []
    key = next_period(board, parse_period(board, last_rolled_key))
    while key < current and len(ended) < limit:
        ended.append(key)
        key = next_period(board, key)
    return ended


def _week_key(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def _month_key(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def _week_start(key: str) -> date:
    """The Monday a ``YYYY-Www`` key starts on; ``InvalidInput`` on ``period`` if there is no such week."""
    match = _WEEK_KEY.fullmatch(key)
    if match is None:
        raise InvalidInput("a weekly period looks like 2026-W48", field="period")
    year, week = int(match[1]), int(match[2])
    _check_year(year)
    weeks_in_year = date(year, 12, 28).isocalendar().week  # 28 December is always in the last ISO week
    if not 1 <= week <= weeks_in_year:
        raise InvalidInput(f"{year} has ISO weeks 01 to {weeks_in_year}", field="period")
    return date.fromisocalendar(year, week, 1)


def _month_start(key: str) -> date:
    match = _MONTH_KEY.fullmatch(key)
    if match is None:
        raise InvalidInput("a monthly period looks like 2026-11", field="period")
    year, month = int(match[1]), int(match[2])
    _check_year(year)
    if not 1 <= month <= 12:
        raise InvalidInput("month must be 01 to 12", field="period")
    return date(year, month, 1)


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"year must be between {MIN_YEAR} and {MAX_YEAR}", field="period")


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)
