"""The local stack's EventBridge schedule expressions: cron(...) and rate(...), in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fenxiao_local.schedule import Cron, Rate, ScheduleError, parse

pytestmark = pytest.mark.unit


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def nexts(expression: str, after: datetime, count: int) -> list[datetime]:
    schedule = parse(expression)
    out = []
    for _ in range(count):
        after = schedule.next_after(after)
        out.append(after)
    return out


# ---------------------------------------------------------------- the template's timers


def test_weekly_rollover_sunday_16_utc_across_the_year_end() -> None:
    # Monday 00:00 Asia/Shanghai = Sunday 16:00 UTC.
    assert nexts("cron(0 16 ? * SUN *)", utc(2026, 12, 20, 16, 0), 3) == [
        utc(2026, 12, 27, 16),
        utc(2027, 1, 3, 16),
        utc(2027, 1, 10, 16),
    ]
    assert parse("cron(0 16 ? * SUN *)").next_after(utc(2026, 11, 25, 10, 0)) == utc(2026, 11, 29, 16)


def test_weekly_rollover_is_strictly_after() -> None:
    cron = parse("cron(0 16 ? * SUN *)")
    assert cron.next_after(utc(2026, 11, 29, 15, 59, 59)) == utc(2026, 11, 29, 16)
    assert cron.next_after(utc(2026, 11, 29, 16, 0)) == utc(2026, 12, 6, 16)
    assert cron.next_after(utc(2026, 11, 29, 16, 0, 0, 1)) == utc(2026, 12, 6, 16)


def test_monthly_rollover_last_day_of_each_month() -> None:
    # The 1st 00:00 Asia/Shanghai = the last day of the previous month, 16:00 UTC.
    assert nexts("cron(0 16 L * ? *)", utc(2026, 11, 30, 16, 0), 4) == [
        utc(2026, 12, 31, 16),
        utc(2027, 1, 31, 16),
        utc(2027, 2, 28, 16),
        utc(2027, 3, 31, 16),
    ]
    assert nexts("cron(0 16 L * ? *)", utc(2028, 1, 31, 16, 0), 2) == [
        utc(2028, 2, 29, 16),
        utc(2028, 3, 31, 16),
    ]
    assert parse("cron(0 16 L * ? *)").next_after(utc(2026, 4, 30, 15, 59)) == utc(2026, 4, 30, 16)
    assert parse("cron(0 16 L * ? *)").next_after(utc(2026, 4, 30, 16, 1)) == utc(2026, 5, 31, 16)


def test_daily_audit_across_month_and_year_ends() -> None:
    audit = parse("cron(30 19 * * ? *)")
    assert audit.next_after(utc(2026, 12, 31, 19, 29, 59)) == utc(2026, 12, 31, 19, 30)
    assert audit.next_after(utc(2026, 12, 31, 19, 30)) == utc(2027, 1, 1, 19, 30)
    assert audit.next_after(utc(2027, 2, 28, 20, 0)) == utc(2027, 3, 1, 19, 30)
    assert audit.next_after(utc(2028, 2, 28, 20, 0)) == utc(2028, 2, 29, 19, 30)


def test_non_utc_input_is_compared_in_utc() -> None:
    shanghai = datetime(2026, 12, 2, 3, 29, tzinfo=timezone(timedelta(hours=8)))  # 2026-12-01 19:29 UTC
    assert parse("cron(30 19 * * ? *)").next_after(shanghai) == utc(2026, 12, 1, 19, 30)


# ---------------------------------------------------------------- the rest of EventBridge's syntax


def test_lists_ranges_steps_and_names() -> None:
    assert nexts("cron(0/15 * * * ? *)", utc(2026, 11, 25, 10, 7), 3) == [
        utc(2026, 11, 25, 10, 15),
        utc(2026, 11, 25, 10, 30),
        utc(2026, 11, 25, 10, 45),
    ]
    assert nexts("cron(10-50/20 8,17 * * ? *)", utc(2026, 11, 25, 8, 10), 4) == [
        utc(2026, 11, 25, 8, 30),
        utc(2026, 11, 25, 8, 50),
        utc(2026, 11, 25, 17, 10),
        utc(2026, 11, 25, 17, 30),
    ]
    # Weekdays only: Friday 2026-11-27, then Monday 2026-11-30.
    assert nexts("cron(0 8 ? * MON-FRI *)", utc(2026, 11, 27, 7, 0), 2) == [
        utc(2026, 11, 27, 8),
        utc(2026, 11, 30, 8),
    ]
    assert nexts("cron(0 8 ? * 2-6 *)", utc(2026, 11, 27, 7, 0), 2) == [
        utc(2026, 11, 27, 8),
        utc(2026, 11, 30, 8),
    ]
    assert nexts("cron(0 0 1 JAN,jul ? *)", utc(2026, 11, 25), 3) == [
        utc(2027, 1, 1),
        utc(2027, 7, 1),
        utc(2028, 1, 1),
    ]
    assert parse("cron(*/30 * * * ? *)").next_after(utc(2026, 11, 25, 10, 29, 59)) == utc(
        2026, 11, 25, 10, 30
    )


def test_years() -> None:
    assert nexts("cron(0 0 1 1 ? 2028-2029)", utc(2026, 11, 25), 2) == [utc(2028, 1, 1), utc(2029, 1, 1)]
    with pytest.raises(ScheduleError, match="never fires"):
        parse("cron(0 0 1 1 ? 2020)").next_after(utc(2026, 11, 25))


def test_day_of_week_l_and_hash() -> None:
    # 6L: the last Friday of the month; L alone: Saturday; 3#2: the second Tuesday.
    assert nexts("cron(0 18 ? * 6L *)", utc(2026, 11, 25), 3) == [
        utc(2026, 11, 27, 18),
        utc(2026, 12, 25, 18),
        utc(2027, 1, 29, 18),
    ]
    assert nexts("cron(0 18 ? * FRIL *)", utc(2026, 11, 25), 1) == [utc(2026, 11, 27, 18)]
    assert parse("cron(0 9 ? * L *)").next_after(utc(2026, 11, 25)) == utc(2026, 11, 28, 9)
    assert nexts("cron(0 10 ? * 3#2 *)", utc(2026, 11, 25), 2) == [utc(2026, 12, 8, 10), utc(2027, 1, 12, 10)]


def test_day_of_month_w() -> None:
    # 2027-08-15 is a Sunday -> Monday the 16th; 2027-05-15 a Saturday -> Friday the 14th.
    assert parse("cron(0 12 15W * ? *)").next_after(utc(2027, 8, 1)) == utc(2027, 8, 16, 12)
    assert parse("cron(0 12 15W * ? *)").next_after(utc(2027, 5, 1)) == utc(2027, 5, 14, 12)
    # 2027-05-01 is a Saturday: 1W never leaves the month -> Monday the 3rd.
    assert parse("cron(0 12 1W * ? *)").next_after(utc(2027, 4, 30, 13)) == utc(2027, 5, 3, 12)
    # LW: the last weekday; 2027-02-28 is a Sunday -> Friday the 26th.
    assert parse("cron(0 12 LW * ? *)").next_after(utc(2027, 2, 1)) == utc(2027, 2, 26, 12)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 16 * * * *)",  # neither day field is '?'
        "cron(0 16 ? * ? *)",  # both are
        "cron(0 16 * * ?)",  # five fields
        "cron(60 16 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 16 32 * ? *)",
        "cron(0 16 ? * 8 *)",
        "cron(0 16 ? * FUN *)",
        "cron(0 16 10-5 * ? *)",
        "cron(0/0 16 * * ? *)",
        "cron(0 16 * 13 ? *)",
        "cron(0 16 * * ? 1969)",
        "cron(? 16 * * ? *)",
        "cron(0 16 1,,2 * ? *)",
        "rate(0 minutes)",
        "rate(5 fortnights)",
        "rate(five minutes)",
        "at(2026-11-25T10:00:00)",
        "every 5 minutes",
    ],
)
def test_rejected(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


# ---------------------------------------------------------------- rate


def test_rate_counts_from_its_anchor() -> None:
    rate = parse("rate(5 minutes)")
    assert isinstance(rate, Rate)
    anchored = rate.anchored(utc(2026, 11, 25, 10, 0, 30))
    assert anchored.next_after(utc(2026, 11, 25, 10, 0, 30)) == utc(2026, 11, 25, 10, 5, 30)
    assert anchored.next_after(utc(2026, 11, 25, 10, 5, 30)) == utc(2026, 11, 25, 10, 10, 30)
    # A jump far ahead: the next slot after the new time, once.
    assert anchored.next_after(utc(2026, 12, 25, 0, 0)) == utc(2026, 12, 25, 0, 0, 30)
    assert anchored.next_after(utc(2026, 11, 1)) == utc(2026, 11, 25, 10, 0, 30)
    assert parse("rate(1 hour)").seconds == 3600  # type: ignore[attr-defined]
    assert parse("rate(2 days)").seconds == 2 * 86400  # type: ignore[attr-defined]
    assert isinstance(parse(" cron(0 16 L * ? *) "), Cron)
