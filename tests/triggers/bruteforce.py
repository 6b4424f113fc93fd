"""A deliberately naive cron oracle for the property tests: structured field choices that know
their own meaning, and an enumerator that walks every candidate wall time in a window.

Nothing here imports gnomon's cron code: the oracle must be independent of what it checks.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

DayTest = Callable[[date], bool]


@dataclass(frozen=True)
class Choice:
    """One field's text and its meaning: a value set (time, month, year) or a day predicate."""

    text: str
    values: frozenset[int] = frozenset()
    test: DayTest | None = None

    @property
    def restricted(self) -> bool:
        return not (self.text.startswith("*") or self.text == "?")


@dataclass(frozen=True)
class Case:
    second: Choice
    minute: Choice
    hour: Choice
    day: Choice
    month: Choice
    day_of_week: Choice
    year: Choice

    @property
    def expression(self) -> str:
        fields = (self.second, self.minute, self.hour, self.day, self.month, self.day_of_week)
        return " ".join(choice.text for choice in (*fields, self.year))

    def day_matches(self, day: date) -> bool:
        assert self.day.test is not None
        assert self.day_of_week.test is not None
        by_day, by_weekday = self.day.test(day), self.day_of_week.test(day)
        if self.day.restricted and self.day_of_week.restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def date_matches(self, day: date) -> bool:
        return (
            day.year in self.year.values
            and day.month in self.month.values
            and self.day_matches(day)
        )


# --- day helpers, written plainly -------------------------------------------------------------


def month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def cron_weekday(day: date) -> int:
    return day.isoweekday() % 7  # Sunday 0 … Saturday 6


def weekdays_of_month(day: date) -> list[int]:
    """The days of `day`'s month that fall Monday to Friday."""
    first = day.replace(day=1)
    days = (first + timedelta(days=i) for i in range(month_length(day)))
    return [d.day for d in days if d.isoweekday() <= 5]


def nearest_weekday(day: date, target: int) -> int | None:
    """Among the month's own weekdays, the one closest to `target` (None when the month is
    shorter than `target`)."""
    if target > month_length(day):
        return None
    return min(weekdays_of_month(day), key=lambda d: abs(d - target))


# --- the oracle ------------------------------------------------------------------------------


def dates_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def wall_to_instants(wall: datetime, tz: ZoneInfo, every_hour: bool) -> set[datetime]:
    """The Cronos rules, decided by round trips through zoneinfo rather than offset arithmetic."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    early_real = early.astimezone(tz).replace(tzinfo=None) == wall
    late_real = late.astimezone(tz).replace(tzinfo=None) == wall
    if early_real and late_real and early != late:
        first, second = sorted((early, late))
        return {first, second} if every_hour else {first}
    if early_real or late_real:
        return {early if early_real else late}
    # Skipped by spring-forward: the first instant whose wall time is past `wall`.
    probe = min(early, late).replace(second=0, microsecond=0)
    while probe.astimezone(tz).replace(tzinfo=None) <= wall:
        probe += timedelta(minutes=1)
    return {probe}


def expected_fires(case: Case, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every fire instant in (start, end], by walking all candidate wall times."""
    every_hour = case.hour.text == "*"
    # A wall time maps at most a DST shift (under 2 hours) away from its plain reading.
    first = (start.astimezone(tz) - timedelta(hours=2)).date()
    last = (end.astimezone(tz) + timedelta(hours=2)).date()
    found: set[datetime] = set()
    for day in dates_between(first, last):
        if not case.date_matches(day):
            continue
        for hour in case.hour.values:
            for minute in case.minute.values:
                for second in case.second.values:
                    wall = datetime(day.year, day.month, day.day, hour, minute, second)
                    found |= wall_to_instants(wall, tz, every_hour)
    return sorted(moment for moment in found if start < moment <= end)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The instants in 2024–2027 when `zone` changes its UTC offset (found by scanning)."""
    tz = ZoneInfo(zone)
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    previous = moment.astimezone(tz).utcoffset()
    found: list[datetime] = []
    while moment.year < 2028:
        moment += timedelta(minutes=30)
        offset = moment.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return tuple(found)
