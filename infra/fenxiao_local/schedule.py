"""EventBridge schedule expressions: ``rate(...)`` and 6-field ``cron(...)``, in UTC.

``cron(minutes hours day-of-month month day-of-week year)`` as EventBridge documents it:

- minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT
  (1 = Sunday), year 1970-2199;
- ``*`` any, ``,`` lists, ``-`` ranges, ``/`` steps (``0/15``, ``*/5``, ``10-50/20``);
- ``?`` in day-of-month or day-of-week (exactly one of the two must be ``?``);
- ``L``: in day-of-month the last day of the month (``L``), in day-of-week Saturday alone, or the last
  such weekday of the month (``6L`` = the last Friday); ``W`` in day-of-month: the weekday nearest to the
  given day within its month (``15W``, ``LW``); ``#`` in day-of-week: the n-th such weekday (``3#2``).

``next_after(t)`` is the first firing time strictly after ``t``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
MAX_YEAR = 2199


class ScheduleError(ValueError):
    """A schedule expression EventBridge would not accept (the message says which part)."""


class Schedule:
    expression: str

    def next_after(self, moment: datetime) -> datetime:  # pragma: no cover - interface
        raise NotImplementedError


def parse(expression: str) -> Schedule:
    text = expression.strip()
    match = re.fullmatch(r"(rate|cron)\((.*)\)", text)
    if not match:
        raise ScheduleError(f"{expression!r}: expected rate(...) or cron(...)")
    if match.group(1) == "rate":
        return Rate.parse(text)
    return Cron.parse(text)


# ---------------------------------------------------------------- rate


_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class Rate(Schedule):
    """``rate(N unit)``: every N units from an anchor (EventBridge anchors at the rule's creation)."""

    expression: str
    seconds: int
    anchor: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    @classmethod
    def parse(cls, expression: str) -> Rate:
        match = re.fullmatch(r"rate\(\s*(\d+)\s+([a-z]+)\s*\)", expression.strip())
        if not match or match.group(2) not in _UNITS:
            raise ScheduleError(f"{expression!r}: expected rate(<N> minute[s]|hour[s]|day[s])")
        value = int(match.group(1))
        if value < 1:
            raise ScheduleError(f"{expression!r}: the rate must be at least 1")
        return cls(expression, value * _UNITS[match.group(2)])

    def anchored(self, anchor: datetime) -> Rate:
        return Rate(self.expression, self.seconds, anchor)

    def next_after(self, moment: datetime) -> datetime:
        elapsed = (moment - self.anchor).total_seconds()
        periods = int(elapsed // self.seconds) + 1 if elapsed >= 0 else 0
        return self.anchor + timedelta(seconds=periods * self.seconds)


# ---------------------------------------------------------------- cron

DayRule = Callable[[int, int, int], bool]  # (year, month, day) -> fires that day


def _number(token: str, names: dict[str, int], low: int, high: int, what: str) -> int:
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        raise ScheduleError(f"{what}: {token!r} is not a number{' or name' if names else ''}")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"{what}: {value} is outside {low}-{high}")
    return value


def _values(
    field: str, low: int, high: int, what: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    """The set a field of ``*``, lists, ranges and steps stands for."""
    names = names or {}
    out: set[int] = set()
    for part in field.split(","):
        if not part:
            raise ScheduleError(f"{what}: empty list item in {field!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"{what}: bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, names, low, high, what), _number(last, names, low, high, what)
            if end < start:
                raise ScheduleError(f"{what}: range {base!r} runs backwards")
        else:
            start = _number(base, names, low, high, what)
            end = high if slash else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _weekday(year: int, month: int, day: int) -> int:
    """EventBridge's day-of-week number: 1 = Sunday ... 7 = Saturday."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """Quartz ``W``: the Monday-Friday day nearest to ``day``, never leaving the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    dow = calendar.weekday(year, month, day)  # Monday = 0
    if dow == 5:  # Saturday: Friday before, or Monday after when the 1st
        return day - 1 if day > 1 else day + 2
    if dow == 6:  # Sunday: Monday after, or Friday before when the last day
        return day + 1 if day < last else day - 2
    return day


def _day_of_month_rule(field: str) -> DayRule:
    upper = field.upper()
    if upper == "L":
        return lambda y, m, d: d == calendar.monthrange(y, m)[1]
    if upper == "LW":
        return lambda y, m, d: d == _nearest_weekday(y, m, calendar.monthrange(y, m)[1])
    match = re.fullmatch(r"(\d{1,2})W", upper)
    if match:
        target = _number(match.group(1), {}, 1, 31, "day-of-month")
        return lambda y, m, d: d == _nearest_weekday(y, m, target)
    days = _values(field, 1, 31, "day-of-month")
    return lambda y, m, d: d in days


def _day_of_week_rule(field: str) -> DayRule:
    upper = field.upper()
    match = re.fullmatch(r"([0-9A-Z]+)L", upper)
    if upper == "L":
        return lambda y, m, d: _weekday(y, m, d) == 7
    if match:
        dow = _number(match.group(1), DAYS, 1, 7, "day-of-week")
        return lambda y, m, d: _weekday(y, m, d) == dow and d + 7 > calendar.monthrange(y, m)[1]
    match = re.fullmatch(r"([0-9A-Z]+)#([1-5])", upper)
    if match:
        dow = _number(match.group(1), DAYS, 1, 7, "day-of-week")
        nth = int(match.group(2))
        return lambda y, m, d: _weekday(y, m, d) == dow and (d - 1) // 7 + 1 == nth
    days = _values(field, 1, 7, "day-of-week", DAYS)
    return lambda y, m, d: _weekday(y, m, d) in days


@dataclass(frozen=True)
class Cron(Schedule):
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_matches: DayRule

    @classmethod
    def parse(cls, expression: str) -> Cron:
        match = re.fullmatch(r"cron\((.*)\)", expression.strip())
        fields = match.group(1).split() if match else []
        if len(fields) != 6:
            raise ScheduleError(f"{expression!r}: cron needs 6 fields (minutes hours dom month dow year)")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
        for name, value in (("minutes", minute), ("hours", hour), ("month", month), ("year", year)):
            if "?" in value or "L" in value.upper().replace("JUL", ""):
                raise ScheduleError(f"{expression!r}: {name} does not take '?' or 'L'")
        rule = _day_of_week_rule(dow) if dom == "?" else _day_of_month_rule(dom)
        return cls(
            expression=expression,
            minutes=tuple(sorted(_values(minute, 0, 59, "minutes"))),
            hours=tuple(sorted(_values(hour, 0, 23, "hours"))),
            months=_values(month, 1, 12, "month", MONTHS),
            years=_values(year, 1970, MAX_YEAR, "year"),
            day_matches=rule,
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first minute strictly after ``moment`` (UTC) that the expression fires at."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        first_day = True
        while day.year <= MAX_YEAR:
            if day.year not in self.years:
                day, first_day = day.replace(year=day.year + 1, month=1, day=1), False
                continue
            if day.month not in self.months:
                month_end = calendar.monthrange(day.year, day.month)[1]
                day, first_day = day.replace(day=month_end) + timedelta(days=1), False
                continue
            if self.day_matches(day.year, day.month, day.day):
                for hour in self.hours:
                    for minute in self.minutes:
                        if first_day and (hour, minute) < (start.hour, start.minute):
                            continue
                        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
            day, first_day = day + timedelta(days=1), False
        raise ScheduleError(f"{self.expression!r}: never fires after {moment.isoformat()}")
