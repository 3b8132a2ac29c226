"""SPEC §1/§5: weeks (ISO, from Monday 00:00) and months in Asia/Shanghai, which is UTC+8."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.errors import InvalidInput
from fenxiao.domain.periods import (
    SHANGHAI,
    Board,
    ended_periods,
    next_period,
    parse_board,
    parse_period,
    period_bounds,
    period_key,
    previous_period,
)

pytestmark = pytest.mark.unit


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    """A wall-clock time in Asia/Shanghai."""
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=SHANGHAI)


# --- keys ---------------------------------------------------------------------------------------------


def test_week_turns_at_monday_midnight_shanghai() -> None:
    # Sunday 2026-11-29 23:59:59 in Shanghai is 15:59:59 UTC the same day; Monday 00:00 is 16:00 UTC Sunday
    sunday_last_second = datetime(2026, 11, 29, 15, 59, 59, tzinfo=UTC)
    monday_start = datetime(2026, 11, 29, 16, 0, 0, tzinfo=UTC)
    assert period_key("weekly", sunday_last_second) == period_key("weekly", sh(2026, 11, 29, 23, 59, 59))
    assert period_key("weekly", sunday_last_second) == "2026-W48"
    assert period_key("weekly", monday_start) == "2026-W49"
    assert period_key("weekly", sh(2026, 11, 30, 0, 0, 0)) == "2026-W49"
    # UTC would still call it Sunday: the key follows Shanghai's calendar, not UTC's
    assert monday_start.astimezone(UTC).weekday() == 6


def test_month_turns_at_the_first_midnight_shanghai() -> None:
    # 2026-11-30 23:59:59.999999 Shanghai = 15:59:59.999999 UTC; 2026-12-01 00:00 Shanghai = 2026-11-30 16:00 UTC
    assert period_key("monthly", sh(2026, 11, 30, 23, 59, 59, 999999)) == "2026-11"
    assert period_key("monthly", datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"
    assert period_key("monthly", sh(2027, 1, 1)) == "2027-01"
    assert period_key("monthly", sh(2028, 2, 29, 12)) == "2028-02"


def test_iso_years_around_new_year() -> None:
    # 2026 starts on a Thursday, so it has 53 ISO weeks; 2026-W53 runs Mon 2026-12-28 .. Sun 2027-01-03
    assert period_key("weekly", sh(2026, 12, 31, 12)) == "2026-W53"
    assert period_key("weekly", sh(2027, 1, 1, 12)) == "2026-W53"
    assert period_key("weekly", sh(2027, 1, 3, 23, 59, 59)) == "2026-W53"
    assert period_key("weekly", sh(2027, 1, 4)) == "2027-W01"
    # and the other way: Monday 2025-12-29 already belongs to 2026-W01
    assert period_key("weekly", sh(2025, 12, 29)) == "2026-W01"


def test_total_key() -> None:
    assert period_key("total", sh(2026, 11, 25)) == "total"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        period_key("weekly", datetime(2026, 11, 25))


# --- bounds -------------------------------------------------------------------------------------------


def test_week_bounds() -> None:
    assert period_bounds("weekly", "2026-W48") == (sh(2026, 11, 23), sh(2026, 11, 30))
    assert period_bounds("weekly", "2026-W53") == (sh(2026, 12, 28), sh(2027, 1, 4))
    starts_at, _ = period_bounds("weekly", "2026-W48")
    assert starts_at is not None
    assert starts_at.utcoffset() == timedelta(hours=8)
    assert starts_at == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def test_month_bounds() -> None:
    assert period_bounds("monthly", "2026-11") == (sh(2026, 11, 1), sh(2026, 12, 1))
    assert period_bounds("monthly", "2026-12") == (sh(2026, 12, 1), sh(2027, 1, 1))
    assert period_bounds("monthly", "2028-02") == (sh(2028, 2, 1), sh(2028, 3, 1))


def test_total_has_no_bounds() -> None:
    assert period_bounds("total", "total") == (None, None)


@given(
    st.sampled_from(["weekly", "monthly"]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_a_period_holds_exactly_its_instants(board: Board, t: datetime) -> None:
    key = period_key(board, t)
    starts_at, ends_at = period_bounds(board, key)
    assert starts_at is not None and ends_at is not None
    assert starts_at <= t < ends_at
    assert period_key(board, starts_at) == key
    assert period_key(board, ends_at) == next_period(board, key)
    assert period_key(board, starts_at - timedelta(microseconds=1)) == previous_period(board, key)
    assert previous_period(board, next_period(board, key)) == key
    assert parse_period(board, key) == key
    assert key < next_period(board, key)  # keys sort as text in time order


# --- navigation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("board", "key", "following"),
    [
        ("weekly", "2026-W52", "2026-W53"),
        ("weekly", "2026-W53", "2027-W01"),
        ("weekly", "2027-W52", "2028-W01"),  # 2027 has 52 weeks
        ("monthly", "2026-12", "2027-01"),
        ("monthly", "2026-01", "2026-02"),
    ],
)
def test_next_and_previous(board: Board, key: str, following: str) -> None:
    assert next_period(board, key) == following
    assert previous_period(board, following) == key


def test_total_has_no_neighbours() -> None:
    with pytest.raises(ValueError):
        next_period("total", "total")
    with pytest.raises(ValueError):
        previous_period("total", "total")


# --- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("board", "key"),
    [
        ("weekly", "2026-W01"),
        ("weekly", "2026-W53"),
        ("weekly", "2020-W53"),
        ("monthly", "2026-01"),
        ("monthly", "2026-12"),
        ("total", "total"),
    ],
)
def test_parse_good_periods(board: Board, key: str) -> None:
    assert parse_period(board, key) == key


@pytest.mark.parametrize(
    ("board", "key"),
    [
        ("weekly", "2027-W53"),  # 2027 has only 52 ISO weeks
        ("weekly", "2026-W00"),
        ("weekly", "2026-W54"),
        ("weekly", "2026-W1"),
        ("weekly", "2026W48"),
        ("weekly", "2026-w48"),
        ("weekly", "2026-11"),
        ("weekly", " 2026-W48"),
        ("weekly", "1969-W10"),
        ("monthly", "2026-00"),
        ("monthly", "2026-13"),
        ("monthly", "2026-1"),
        ("monthly", "2026-W48"),
        ("monthly", "26-11"),
        ("total", "2026"),
        ("total", "TOTAL"),
        ("weekly", ""),
    ],
)
def test_parse_bad_periods(board: Board, key: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_period(board, key)
    assert raised.value.field == "period"
    with pytest.raises(InvalidInput):
        period_bounds(board, key)


def test_parse_board() -> None:
    assert parse_board("weekly") == "weekly"
    with pytest.raises(InvalidInput) as raised:
        parse_board("daily")
    assert raised.value.field == "board"


# --- rollover -----------------------------------------------------------------------------------------


def test_ended_periods_after_the_last_rolled_one() -> None:
    now = sh(2026, 12, 2, 9)  # Wednesday of 2026-W49
    assert ended_periods("weekly", "2026-W45", now) == ["2026-W46", "2026-W47", "2026-W48"]
    assert ended_periods("weekly", "2026-W48", now) == []
    assert ended_periods("monthly", "2026-09", now) == ["2026-10", "2026-11"]
    assert ended_periods("total", None, now) == []


def test_a_period_has_ended_at_its_exclusive_end() -> None:
    assert ended_periods("weekly", "2026-W47", sh(2026, 11, 29, 23, 59, 59)) == []
    assert ended_periods("weekly", "2026-W47", sh(2026, 11, 30)) == ["2026-W48"]
    assert ended_periods("monthly", "2026-10", sh(2026, 12, 1)) == ["2026-11"]


def test_ended_periods_without_history_is_the_last_ended_one() -> None:
    assert ended_periods("weekly", None, sh(2027, 1, 4, 0, 0, 1)) == ["2026-W53"]
    assert ended_periods("monthly", None, sh(2027, 1, 1)) == ["2026-12"]


def test_ended_periods_catch_up_oldest_first_within_the_limit() -> None:
    now = sh(2026, 12, 2)
    first = ended_periods("weekly", "2025-W01", now, limit=60)
    assert len(first) == 60
    assert first[0] == "2025-W02"
    assert first == sorted(first)
    rest = ended_periods("weekly", first[-1], now)
    assert rest[-1] == "2026-W48"
    assert len(first) + len(rest) == 52 + 48 - 1  # 2025 has 52 weeks; W02 of 2025 .. W48 of 2026


def test_ended_periods_ignores_a_last_key_in_the_future() -> None:
    assert ended_periods("weekly", "2027-W10", sh(2026, 12, 2)) == []
