"""Timezones for triggers: IANA names, wall-clock times across DST, and ISO 8601 input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gnomon.errors import Problem, TriggerInvalid

_SECOND = timedelta(seconds=1)

#: The years gnomon schedules in, for every trigger: the cron year field's range, and the
#: instants a date or interval trigger accepts. Far enough from the ends of `datetime` that any
#: offset or step near them stays countable.
FIRST_YEAR, LAST_YEAR = 1970, 2199
FIRST_INSTANT = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
END_INSTANT = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)


def resolve_timezone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The zone called `name` (an IANA name such as ``Asia/Shanghai``).

    Raises TriggerInvalid naming `field` when there is no such zone: never a silent fallback.
    """
    if isinstance(name, str) and name.strip() == name and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise TriggerInvalid(
        [Problem(field, f"unknown timezone {name!r}; use an IANA name such as 'Asia/Shanghai'")]
    )


class WallKind(Enum):
    """How a wall-clock time relates to the instants of its zone."""

    NORMAL = "normal"  # occurs exactly once
    GAP = "gap"  # skipped by a spring-forward transition
    FOLD = "fold"  # occurs twice, around a fall-back transition


class WallInstants(NamedTuple):
    """The instants (UTC) a wall-clock time stands for.

    NORMAL: `first` only. GAP: `first` is the transition, the first instant after the gap.
    FOLD: `first` is the earlier occurrence, `second` the later one, `transition` the instant the
    clocks went back (the first instant of the second occurrence's offset).
    """

    kind: WallKind
    first: datetime
    second: datetime | None = None
    transition: datetime | None = None


def wall_instants(wall: datetime, tz: ZoneInfo) -> WallInstants:
    """Map a naive wall-clock time in `tz` to instants, following PEP 495 fold semantics."""
    naive = wall.replace(tzinfo=None, fold=0)
    off0 = tz.utcoffset(naive)
    off1 = tz.utcoffset(naive.replace(fold=1))
    assert off0 is not None
    assert off1 is not None
    first = (naive - off0).replace(tzinfo=UTC)
    if off0 == off1:
        return WallInstants(WallKind.NORMAL, first)
    later = (naive - off1).replace(tzinfo=UTC)
    if off0 > off1:
        # Fall back: fold=0 keeps the earlier (larger) offset, so `first` precedes `later`.
        return WallInstants(WallKind.FOLD, first, later, transition_between(first, later, tz))
    # Spring forward: fold=1 reads the time with the later offset, landing before the gap, and
    # fold=0 with the earlier offset, landing after it; the transition lies in between.
    return WallInstants(WallKind.GAP, transition_between(later, first, tz))


def transition_between(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """The first whole-second instant in (lo, hi] whose UTC offset in `tz` differs from lo's."""
    start = lo.replace(microsecond=0)
    base = start.astimezone(tz).utcoffset()
    low, high = 0, int((hi - start).total_seconds())
    if (start + high * _SECOND).astimezone(tz).utcoffset() == base:
        return hi  # no transition found: the range is not around one (should not happen)
    while high - low > 1:
        mid = (low + high) // 2
        if (start + mid * _SECOND).astimezone(tz).utcoffset() == base:
            low = mid
        else:
            high = mid
    return start + high * _SECOND


def parse_datetime(value: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 text as an aware UTC instant.

    A trailing ``Z`` or an offset is honoured; a date alone means midnight; a naive time is read
    in `tz` (a time skipped by DST means the first instant after the gap, a repeated one its first
    occurrence). Raises ValueError with a readable message, also when the instant lies outside
    the years FIRST_YEAR-LAST_YEAR.
    """
    text = value.strip()
    if not text:
        raise ValueError("is empty; expected an ISO 8601 date or time like '2026-11-30T01:00:00'")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or time like '2026-11-30T01:00:00+08:00'"
        ) from None
    instant: datetime | None
    try:
        if parsed.tzinfo is None:
            instant = wall_instants(parsed, tz).first
        else:
            instant = parsed.astimezone(UTC)
    except OverflowError:
        instant = None  # within a day of year 1 or 9999: far outside the range anyway
    if instant is None or not FIRST_INSTANT <= instant < END_INSTANT:
        raise ValueError(
            f"{value!r} is outside the years gnomon schedules in: "
            f"{FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31 (UTC)"
        )
    return instant


def format_datetime(instant: datetime, tz: ZoneInfo) -> str:
    """`instant` as ISO 8601 in `tz`, with its offset (``2026-11-30T01:00:00+08:00``)."""
    return instant.astimezone(tz).isoformat()


def stored_instant(value: object, field: str) -> datetime:
    """An instant read back from a stored trigger: ISO 8601 text with an offset, else
    TriggerInvalid naming `field`."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    raise TriggerInvalid(
        [Problem(field, f"must be an ISO 8601 time with an offset, not {value!r}")]
    )


def stored_zone(value: object) -> ZoneInfo:
    """The zone of a stored trigger; TriggerInvalid naming `timezone` when it is not one."""
    if not isinstance(value, str):
        raise TriggerInvalid([Problem("timezone", f"must be an IANA name, not {value!r}")])
    return resolve_timezone(value)
