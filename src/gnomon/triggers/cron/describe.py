"""Cron expressions in words: "At 02:30, Monday through Friday", and the same in Chinese."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

from gnomon.triggers.cron.expression import CronFields
from gnomon.triggers.cron.fields import ParsedField
from gnomon.triggers.cron.items import LastDay, LastOf, LastWeekday, NearestWeekday, NthOf, Span
from gnomon.triggers.cron.wording import Words, words_for

_MAX_LISTED_TIMES = 8


def describe_fields(fields: CronFields, lang: str = "en") -> str:
    """A description of the schedule in `lang` ("en" or "zh")."""
    words = words_for(lang)
    fields = CronFields(*(_unstepped(field) for field in fields))
    parts = [_time(fields, words), *_days(fields, words)]
    parts += [
        part
        for part in (
            _collection(fields.month, words, "month", lambda v: words.months[v - 1]),
            _collection(fields.year, words, "year", words.year.format),
        )
        if part
    ]
    text = words.sep.join(part for part in parts if part)
    return text[:1].upper() + text[1:]


def _unstepped(field: ParsedField) -> ParsedField:
    """``*/1`` as ``*``: every value, so "every minute", not "0 through 59 minutes past"."""
    item = field.items[0]
    if len(field.items) == 1 and isinstance(item, Span) and item.text == "*/1":
        return ParsedField(field.spec, (Span(item.start, item.stop, 1, "*"),))
    return field


def _single(field: ParsedField) -> int | None:
    item = field.items[0]
    if len(field.items) == 1 and isinstance(item, Span) and item.is_single:
        return item.start
    return None


def _time(fields: CronFields, words: Words) -> str:
    second, minute, hour = fields.second, fields.minute, fields.hour
    times = _clock_times(second, minute, hour)
    if times:
        return words.at.format(words.join(times))
    parts: list[str] = []
    zero_second = _single(second) == 0
    hourly = zero_second and _single(minute) == 0
    if not zero_second:
        parts.append(_counted(second, words, "second", words.seconds_past))
    if minute.text == "*":
        if zero_second:
            parts.append(words.every["minute"])
    elif not hourly:
        parts.append(_counted(minute, words, "minute", words.minutes_past))
    if hourly and not (len(hour.items) == 1 and _is_step(hour.items[0])):
        parts.append(words.every["hour"])
    if hour.text != "*":
        parts.append(words.and_.join(_hours(item, words) for item in _spans(hour)))
    return words.sep.join(parts)


def _clock_times(second: ParsedField, minute: ParsedField, hour: ParsedField) -> list[str]:
    """Every time of day, when all three fields are short lists of plain values."""
    fields = (hour, minute, second)
    if not all(_spans(f) and all(i.is_single for i in _spans(f)) for f in fields):
        return []
    values = [sorted(field.values()) for field in fields]
    if len(values[0]) * len(values[1]) * len(values[2]) > _MAX_LISTED_TIMES:
        return []
    with_seconds = values[2] != [0]
    return [
        f"{h:02d}:{m:02d}:{s:02d}" if with_seconds else f"{h:02d}:{m:02d}"
        for h, m, s in product(*values)
    ]


def _counted(field: ParsedField, words: Words, unit: str, past: str) -> str:
    """Seconds of the minute or minutes of the hour."""
    if field.text == "*":
        return words.every[unit]
    if len(field.items) == 1 and _is_step(field.items[0]):
        return _step(field, words, unit, str)
    return past.format(_listing(_spans(field), words, str))


def _hours(item: Span, words: Words) -> str:
    if _is_step(item):
        every = words.every_unit("hour", item.step)
        if item.text.startswith("*"):
            return every
        return words.from_through.format(every, f"{item.start:02d}:00", f"{item.stop:02d}:00")
    return words.hours_between.format(f"{item.start:02d}", f"{item.stop:02d}")


def _days(fields: CronFields, words: Words) -> list[str]:
    day, weekday = fields.day, fields.day_of_week
    either = not day.is_star and not weekday.is_star
    by_day = _day_of_month(day, words) if day.text != "*" else ""
    by_weekday = _day_of_week(weekday, words, either) if weekday.text != "*" else ""
    if by_day and by_weekday and either:
        return [by_day + words.or_ + by_weekday]
    return [part for part in (by_day, by_weekday) if part]


def _day_of_month(field: ParsedField, words: Words) -> str:
    phrases: list[str] = []
    spans = _spans(field)
    if len(spans) == 1 and _is_step(spans[0]) and spans[0].text.startswith("*"):
        phrases.append(words.every_unit("day", spans[0].step))
    elif spans:
        phrases.append(words.day_of_month.format(_listing(spans, words, str)))
    for item in field.items:
        if isinstance(item, LastDay):
            offset = item.offset
            phrases.append(words.before_last_day.format(offset) if offset else words.last_day)
        elif isinstance(item, NearestWeekday):
            phrases.append(words.nearest_weekday.format(item.day))
        elif isinstance(item, LastWeekday):
            phrases.append(words.last_weekday)
    return words.join(phrases)


def _day_of_week(field: ParsedField, words: Words, either: bool) -> str:
    phrases: list[str] = []
    name = words.weekdays.__getitem__
    spans = _spans(field)
    if spans:
        listed = _listing(spans, words, lambda v: name(v % 7))
        if all(item.is_single or item.step > 1 for item in spans):
            listed = (words.on if either else words.only_on).format(listed)
        phrases.append(listed)
    for item in field.items:
        if isinstance(item, LastOf):
            phrases.append(words.last_of.format(name(item.weekday)))
        elif isinstance(item, NthOf):
            phrases.append(words.nth_of.format(words.ordinals[item.nth - 1], name(item.weekday)))
    return words.join(phrases)


def _collection(field: ParsedField, words: Words, unit: str, fmt: Callable[[int], str]) -> str:
    """Months or years: "only in January", "January through March", "every 3 months"."""
    if field.text == "*":
        return ""
    spans = _spans(field)
    if len(spans) == 1 and _is_step(spans[0]):
        return _step(field, words, unit, fmt)
    listed = _listing(spans, words, fmt)
    if all(item.is_single or item.step > 1 for item in spans):
        return words.only_in.format(listed)
    return listed


def _step(field: ParsedField, words: Words, unit: str, fmt: Callable[[int], str]) -> str:
    item = _spans(field)[0]
    every = words.every_unit(unit, item.step)
    if item.text.startswith("*"):
        return every
    return words.from_through.format(every, fmt(item.start), fmt(max(item.values())))


def _listing(spans: list[Span], words: Words, fmt: Callable[[int], str]) -> str:
    """Values and ranges as a list; a stepped range in a list becomes its values."""
    pieces: list[str] = []
    for item in spans:
        if item.is_single:
            pieces.append(fmt(item.start))
        elif item.step == 1:
            pieces.append(words.through.format(fmt(item.start), fmt(item.stop)))
        else:
            pieces.extend(fmt(value) for value in item.values())
    return words.join(pieces)


def _spans(field: ParsedField) -> list[Span]:
    return [item for item in field.items if isinstance(item, Span)]


def _is_step(item: object) -> bool:
    return isinstance(item, Span) and item.step > 1
