"""Next fire time of a cron expression: a field-by-field search of wall time, then the DST rules."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from gnomon.triggers.cron.expression import CronFields
from gnomon.triggers.cron.fields import YEAR, ParsedField
from gnomon.triggers.cron.monthdays import DayMatcher
from gnomon.triggers.timezones import WallKind, wall_instants

Wall = tuple[int, int, int, int, int, int]  # year, month, day, hour, minute, second
_SECOND = timedelta(seconds=1)
_FIRST_YEAR, _LAST_YEAR = YEAR.low, YEAR.high
_BEFORE_FIRST_YEAR = datetime(_FIRST_YEAR - 1, 12, 30, tzinfo=UTC)


@lru_cache(maxsize=1024)
def _next_table(field: ParsedField) -> tuple[int, ...]:
    # Shared between triggers: most jobs spell their fields alike ("0", "*", "*/5").
    return field.next_table()


def _day_table(days: list[int]) -> tuple[int, ...]:
    """At index d (0-32): the first matching day ≥ d, or -1."""
    chosen = set(days)
    table = [-1] * 33
    following = -1
    for day in range(32, -1, -1):
        if day in chosen:
            following = day
        table[day] = following
    return tuple(table)


class CronSchedule:
    """The fire times of parsed cron fields in one timezone.

    Wall-clock times are found field by field (year → month → day → hour → minute → second) with
    "next allowed value" tables, then mapped to instants by the Cronos rules: a time skipped by
    spring-forward fires at the first instant after the gap; a repeated time fires at its first
    occurrence, or at both when the hour field is exactly ``*``; times mapping to one instant
    fire once.
    """

    def __init__(self, fields: CronFields, tz: ZoneInfo) -> None:
        self._tz = tz
        self._years = _next_table(fields.year)
        self._months = _next_table(fields.month)
        self._hours = _next_table(fields.hour)
        self._minutes = _next_table(fields.minute)
        self._seconds = _next_table(fields.second)
        self._matcher = DayMatcher(fields.day, fields.day_of_week)
        self._day_tables: dict[int, tuple[int, ...]] = {}
        self._kind_tables: dict[tuple[int, int], tuple[int, ...]] = {}
        self._every_hour = fields.hour.text == "*"
        self._year_values = sorted(fields.year.values())
        self._month_values = sorted(fields.month.values())

    def can_fire(self) -> bool:
        """Whether any year of the year field has a matching day (ignores the present)."""
        seen: set[tuple[bool, int]] = set()
        for year in self._year_values:
            kind = (calendar.isleap(year), calendar.weekday(year, 1, 1))
            if kind in seen:
                continue  # the year has the same calendar as one already tried
            seen.add(kind)
            if any(self._days(year, month)[0] >= 0 for month in self._month_values):
                return True
        return False

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after `after` (aware), in UTC, or None."""
        if not _FIRST_YEAR <= after.year <= _LAST_YEAR:
            if after.year > _LAST_YEAR:
                return None
            after = _BEFORE_FIRST_YEAR  # also keeps datetime.min clear of overflow
        tz = self._tz
        local = after.astimezone(tz)
        wall = self.first_wall(
            local.year, local.month, local.day, local.hour, local.minute, local.second + 1
        )
        while wall is not None:
            naive = datetime(*wall)
            offset = tz.utcoffset(naive)
            # Constructors rather than .replace(): this is the hot path of every fire.
            if offset == tz.utcoffset(datetime(*wall, fold=1)):
                assert offset is not None
                found = datetime(*wall, tzinfo=UTC) - offset
                if found > after:
                    break
                wall = self._wall_after(naive)
                continue
            mapped = wall_instants(naive, tz)
            if mapped.first > after:
                found = mapped.first
                break
            if self._every_hour and mapped.second is not None and mapped.second > after:
                found = mapped.second
                break
            if (
                mapped.kind is WallKind.FOLD
                and mapped.transition is not None
                and offset is not None
            ):
                # `after` lies in the repeated hour, whose first occurrences are behind it: go
                # on from the end of the repeat.
                end = (mapped.transition + offset).replace(tzinfo=None)
                wall = self.first_wall(*_parts(max(end, naive + _SECOND)))
            else:
                wall = self._wall_after(naive)
        else:
            return None
        if self._every_hour and found - after > _SECOND and _in_first_occurrence(local, tz):
            return self._second_occurrence(local, after, found)
        return found

    def _second_occurrence(self, local: datetime, after: datetime, found: datetime) -> datetime:
        """With hour ``*``, the second occurrences of a repeated hour fire too: when `after` is
        in the first occurrence, one of them may come before `found`."""
        naive = local.replace(tzinfo=None)
        mapped = wall_instants(naive, self._tz)
        if mapped.kind is not WallKind.FOLD or mapped.transition is None:
            return found
        before, later = self._tz.utcoffset(naive), self._tz.utcoffset(naive.replace(fold=1))
        assert before is not None
        assert later is not None
        start = (mapped.transition + later).replace(tzinfo=None)
        end = (mapped.transition + before).replace(tzinfo=None)
        wall = self.first_wall(*_parts(start))
        if wall is not None and datetime(*wall) < end:
            repeat = (datetime(*wall) - later).replace(tzinfo=UTC)
            if after < repeat < found:
                return repeat
        return found

    def _wall_after(self, naive: datetime) -> Wall | None:
        return self.first_wall(
            naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second + 1
        )

    def first_wall(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> Wall | None:
        """The first matching wall-clock time at or after the given one.

        The parts may overflow by one (second 60, minute 60, hour 24, day 32, month 13): each
        table answers -1 there, which carries into the next larger field.
        """
        years, months, hours = self._years, self._months, self._hours
        minutes, seconds = self._minutes, self._seconds
        while True:
            if y < _FIRST_YEAR:
                y, mo, d, h, mi, s = _FIRST_YEAR, 1, 1, 0, 0, 0
            elif y > _LAST_YEAR:
                return None
            found = years[y - _FIRST_YEAR]
            if found < 0:
                return None
            if found != y:
                y, mo, d, h, mi, s = found, 1, 1, 0, 0, 0
            found = months[mo - 1]
            if found < 0:
                y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
                continue
            if found != mo:
                mo, d, h, mi, s = found, 1, 0, 0, 0
            found = self._days(y, mo)[d]
            if found < 0:
                mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                continue
            if found != d:
                d, h, mi, s = found, 0, 0, 0
            found = hours[h]
            if found < 0:
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if found != h:
                h, mi, s = found, 0, 0
            found = minutes[mi]
            if found < 0:
                h, mi, s = h + 1, 0, 0
                continue
            if found != mi:
                mi, s = found, 0
            found = seconds[s]
            if found < 0:
                mi, s = mi + 1, 0
                continue
            return (y, mo, d, h, mi, found)

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = year * 16 + month
        table = self._day_tables.get(key)
        if table is None:
            # Which days match depends only on the month's first weekday and length: 28 kinds
            # of month, so a search through many months (a rare match) computes each kind once.
            kind = calendar.monthrange(year, month)
            table = self._kind_tables.get(kind)
            if table is None:
                table = self._kind_tables[kind] = _day_table(self._matcher.days(year, month))
            self._day_tables[key] = table
        return table


def _in_first_occurrence(local: datetime, tz: ZoneInfo) -> bool:
    """Whether `local` is the first of two occurrences of its wall-clock time."""
    return local.fold == 0 and tz.utcoffset(local.replace(tzinfo=None, fold=1)) != local.utcoffset()


def _parts(wall: datetime) -> Wall:
    return (wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)
