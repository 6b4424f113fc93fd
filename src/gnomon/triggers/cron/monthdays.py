"""Which days of a given month the day-of-month and day-of-week fields select (the OR rule)."""

from __future__ import annotations

import calendar

from gnomon.triggers.cron.fields import ParsedField
from gnomon.triggers.cron.items import LastDay, LastOf, LastWeekday, NearestWeekday, NthOf

_SATURDAY, _SUNDAY = 6, 0


class DayMatcher:
    """Selects days of a month.

    When both fields are restricted (neither starts with ``*``; ``?`` counts as ``*``), a day
    matches if either field matches, as in Vixie cron; otherwise it must match both.
    """

    def __init__(self, day: ParsedField, day_of_week: ParsedField) -> None:
        self._day_values = day.values()
        # The specials by what they select, each once however it is spelled ("5#5,fri#5").
        self._last_offsets = {item.offset for item in day.items if isinstance(item, LastDay)}
        self._nearest = {item.day for item in day.items if isinstance(item, NearestWeekday)}
        self._last_weekday = any(isinstance(item, LastWeekday) for item in day.items)
        self._weekday_values = day_of_week.values()
        self._last_of = {item.weekday for item in day_of_week.items if isinstance(item, LastOf)}
        self._nth_of = {
            (item.weekday, item.nth) for item in day_of_week.items if isinstance(item, NthOf)
        }
        self._either = not day.is_star and not day_of_week.is_star

    def days(self, year: int, month: int) -> list[int]:
        """The matching days of the month, ascending."""
        first_weekday, length = calendar.monthrange(year, month)
        first = (first_weekday + 1) % 7  # cron numbering: Sunday 0
        by_day = self._by_day(first, length)
        by_weekday = self._by_weekday(first, length)
        chosen = by_day | by_weekday if self._either else by_day & by_weekday
        return sorted(chosen)

    def _by_day(self, first: int, length: int) -> set[int]:
        chosen = {day for day in self._day_values if day <= length}
        chosen.update(length - offset for offset in self._last_offsets if length - offset >= 1)
        chosen.update(
            _nearest_weekday(day, first, length) for day in self._nearest if day <= length
        )
        if self._last_weekday:
            day = length
            while _weekday(day, first) in (_SATURDAY, _SUNDAY):
                day -= 1
            chosen.add(day)
        return chosen

    def _by_weekday(self, first: int, length: int) -> set[int]:
        chosen = {
            day for day in range(1, length + 1) if _weekday(day, first) in self._weekday_values
        }
        last = _weekday(length, first)
        chosen.update(length - (last - weekday) % 7 for weekday in self._last_of)
        for weekday, nth in self._nth_of:
            day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
            if day <= length:
                chosen.add(day)
        return chosen


def _weekday(day: int, first: int) -> int:
    return (first + day - 1) % 7


def _nearest_weekday(day: int, first: int, length: int) -> int:
    """Quartz's ``nW``: Saturday moves to Friday and Sunday to Monday, but never out of the month
    (``1W`` on a Saturday is Monday the 3rd)."""
    weekday = _weekday(day, first)
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < length else day - 2
    return day
