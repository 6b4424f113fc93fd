"""The seven cron fields: their ranges and names, and the parsed form of one field's text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gnomon.triggers.cron.items import Item, Span
from gnomon.triggers.timezones import FIRST_YEAR, LAST_YEAR

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """What one cron field accepts."""

    name: str  # as people read it in messages: "day-of-week"
    key: str  # as the API names it in trigger_args: "day_of_week"
    low: int
    high: int
    names: Mapping[str, int]
    star_high: int  # the last value `*` and `a/n` cover (6 for day-of-week: 7 repeats Sunday)

    def value(self, token: str) -> int:
        """One number or name, checked against the range; ValueError with a message otherwise."""
        if token.isascii() and token.isdigit():
            if len(token) > 4 or not self.low <= int(token) <= self.high:
                raise ValueError(f"{self.name}: {token!r} is out of range {self.low}-{self.high}")
            return int(token)
        if token.lower() in self.names:
            return self.names[token.lower()]
        hint = f" or a name like {next(iter(self.names))!r}" if self.names else ""
        raise ValueError(
            f"{self.name}: {token!r} is not a valid value; expected a number "
            f"{self.low}-{self.high}{hint}"
        )


def _spec(
    name: str, key: str, low: int, high: int, names: tuple[str, ...] = (), first: int = 0
) -> FieldSpec:
    table = {n: i + first for i, n in enumerate(names)}
    return FieldSpec(name, key, low, high, table, 6 if key == "day_of_week" else high)


SECOND = _spec("second", "second", 0, 59)
MINUTE = _spec("minute", "minute", 0, 59)
HOUR = _spec("hour", "hour", 0, 23)
DAY = _spec("day-of-month", "day", 1, 31)
MONTH = _spec("month", "month", 1, 12, MONTH_NAMES, first=1)
DAY_OF_WEEK = _spec("day-of-week", "day_of_week", 0, 7, WEEKDAY_NAMES)
YEAR = _spec("year", "year", FIRST_YEAR, LAST_YEAR)

#: In the order of a 7-field expression.
SPECS = (SECOND, MINUTE, HOUR, DAY, MONTH, DAY_OF_WEEK, YEAR)


@dataclass(frozen=True)
class ParsedField:
    """One field's items, e.g. ``1-5,sat`` → two items."""

    spec: FieldSpec
    items: tuple[Item, ...]

    @property
    def text(self) -> str:
        """The normalised text of the field."""
        return ",".join(item.text for item in self.items)

    @property
    def is_star(self) -> bool:
        """Whether the field starts with ``*`` (or was ``?``): it does not restrict on its own."""
        return self.text.startswith("*")

    def values(self) -> frozenset[int]:
        """The plain values the field's ranges and numbers cover; 7 counts as 0 (Sunday)."""
        found: set[int] = set()
        for item in self.items:
            if isinstance(item, Span):
                found.update(item.values())
        if self.spec is DAY_OF_WEEK and 7 in found:
            found.discard(7)
            found.add(0)
        return frozenset(found)

    def next_table(self) -> tuple[int, ...]:
        """At index x - low, for x in low..high+1: the smallest value ≥ x in the field, or -1."""
        values = self.values()
        table: list[int] = []
        following = -1
        for x in range(self.spec.high + 1, self.spec.low - 1, -1):
            if x in values:
                following = x
            table.append(following)
        return tuple(reversed(table))
