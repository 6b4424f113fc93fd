"""Reading one cron field's text: numbers, names, ranges, steps, lists, L / W / # and word forms."""

from __future__ import annotations

import re

from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.cron.fields import DAY, DAY_OF_WEEK, WEEKDAY_NAMES, FieldSpec, ParsedField
from gnomon.triggers.cron.items import (
    Item,
    LastDay,
    LastOf,
    LastWeekday,
    NearestWeekday,
    NthOf,
    Span,
)

_WORD_FORM = re.compile(r"(1st|2nd|3rd|4th|5th|last) ([a-z]+)")
_LAST_OFFSET = re.compile(r"l-([0-9]{1,4})")
_NEAREST = re.compile(r"([0-9]{1,4})w")
_LAST_OF = re.compile(r"([a-z0-9]+)l")
_NTH_OF = re.compile(r"([a-z0-9]+)#([0-9]{1,4})")
#: The most items one field may list ("1,2,3" is three): more than a real field lists, since
#: ranges and steps say the rest, and few enough that no list costs time to search.
MAX_ITEMS = 64


def weekday_word(token: str) -> str | None:
    """Canonical syntax for a word form naming a weekday of the month, else None.

    ``last fri`` → ``5L``, ``1st mon`` → ``1#1``, ``2nd fri`` → ``5#2`` (APScheduler's spellings).
    """
    match = _WORD_FORM.fullmatch(" ".join(token.lower().split()))
    if match is None:
        return None
    ordinal, name = match.groups()
    if name not in WEEKDAY_NAMES:
        raise ValueError(f"day-of-week: {name!r} in {token!r} is not a weekday name (sun-sat)")
    weekday = WEEKDAY_NAMES.index(name)
    return f"{weekday}L" if ordinal == "last" else f"{weekday}#{ordinal[0]}"


def parse_field(spec: FieldSpec, text: str, key: str) -> ParsedField:
    """Parse one field's text. Raises TriggerInvalid naming the input `key` and every bad item,
    or the number of items when there are more than MAX_ITEMS."""
    raw = text.strip()
    if not raw:
        raise TriggerInvalid([Problem(key, f"{spec.name}: is empty; use '*' for every value")])
    if raw == "?":
        if spec not in (DAY, DAY_OF_WEEK):
            raise TriggerInvalid([Problem(key, f"{spec.name}: '?' is only allowed in day fields")])
        return ParsedField(spec, (Span(spec.low, spec.star_high, 1, "*"),))
    tokens = [" ".join(token.split()) for token in raw.split(",")]
    if len(tokens) > MAX_ITEMS:
        message = f"{spec.name}: lists {len(tokens)} items; at most {MAX_ITEMS} are allowed"
        raise TriggerInvalid([Problem(key, message)])
    problems: list[str] = []
    items: list[Item] = []
    for token in tokens:
        if token in ("*", "?") and len(tokens) > 1:
            # "*,5" or "1,?": the list means every value, or nothing clear at all
            problems.append(
                f"{spec.name}: {token!r} cannot be combined with other values in {raw!r}"
            )
            continue
        try:
            items.append(parse_item(spec, token))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise TriggerInvalid(Problem(key, message) for message in problems)
    # An item given twice ("5#5,5#5") selects nothing more: keep its first spelling only.
    return ParsedField(spec, tuple(dict.fromkeys(items)))


def parse_item(spec: FieldSpec, token: str) -> Item:
    """One list item (spaces collapsed, any case). ValueError with a message when invalid."""
    if not token:
        raise ValueError(f"{spec.name}: empty item in a list; remove the extra comma")
    if spec is DAY:
        return _day_special(token) or parse_span(spec, token)
    if spec is DAY_OF_WEEK:
        return _weekday_special(token) or parse_span(spec, token)
    return parse_span(spec, token)


def _day_special(token: str) -> Item | None:
    name = DAY.name
    low = token.lower()
    if low in ("l", "last"):
        return LastDay(0)
    if low in ("lw", "wl"):
        return LastWeekday()
    if match := _LAST_OFFSET.fullmatch(low):
        offset = int(match[1])
        if not 1 <= offset <= 30:
            raise ValueError(f"{name}: {token!r}: the offset in L-n must be 1-30")
        return LastDay(offset)
    if re.fullmatch(r"l-[0-9]{1,4}w", low):
        raise ValueError(f"{name}: {token!r}: L-nW is not supported; use LW or a day like 15W")
    if match := _NEAREST.fullmatch(low):
        return NearestWeekday(DAY.value(match[1]))
    if weekday_word(token) is not None:
        raise ValueError(
            f"{name}: {token!r} names a weekday of the month, so day-of-week must be '*' or '?'; "
            "or put it in day-of-week"
        )
    if "w" in low or "l" in low:
        raise ValueError(f"{name}: {token!r} is not a valid use of L or W (L, L-n, nW, LW)")
    return None


def _weekday_special(token: str) -> Item | None:
    name = DAY_OF_WEEK.name
    low = (weekday_word(token) or token).lower()
    if low in ("l", "last"):
        raise ValueError(
            f"{name}: {token!r} alone is ambiguous; write 'sat', or e.g. '5L' for the last Friday"
        )
    if match := _LAST_OF.fullmatch(low):
        weekday = DAY_OF_WEEK.value(match[1])
        return LastOf(weekday % 7, _spell(match[1]))
    if match := _NTH_OF.fullmatch(low):
        weekday = DAY_OF_WEEK.value(match[1])
        nth = int(match[2])
        if not 1 <= nth <= 5:
            raise ValueError(f"{name}: {token!r}: the n in d#n must be 1-5")
        return NthOf(weekday % 7, nth, _spell(match[1]))
    if "#" in low or low.endswith("l"):
        raise ValueError(f"{name}: {token!r} is not a valid use of L or # (like 5L or 1#2)")
    return None


def parse_span(spec: FieldSpec, token: str) -> Span:
    """``*``, ``a``, ``a-b``, ``*/n``, ``a/n`` or ``a-b/n``."""
    base, slash, step_text = token.partition("/")
    step = 1
    if slash:
        width = spec.high - spec.low + 1
        if not (step_text.isascii() and step_text.isdigit() and len(step_text) <= 4):
            raise ValueError(f"{spec.name}: {token!r} has an invalid step {step_text!r}")
        step = int(step_text)
        if not 1 <= step <= width:
            raise ValueError(f"{spec.name}: the step in {token!r} must be 1-{width}")
    if base == "*":
        start, stop, spelled = spec.low, spec.star_high, "*"
    elif "-" in base:
        first, _, last = base.partition("-")
        start, stop = spec.value(first), spec.value(last)
        if spec is DAY_OF_WEEK and last.lower() == "sun" and start > 0:
            stop = 7  # "fri-sun": Sunday closes the range as 7
        if start > stop:
            raise ValueError(
                f"{spec.name}: {token!r} is a reversed range; write it as two ranges, "
                f"e.g. '{first}-{spec.high},{spec.low}-{last}'"
            )
        spelled = f"{_spell(first)}-{_spell(last)}"
    else:
        start = spec.value(base)
        stop = max(start, spec.star_high) if slash else start
        spelled = _spell(base)
    return Span(start, stop, step, f"{spelled}/{step}" if slash else spelled)


def _spell(token: str) -> str:
    """A value as normalised text: numbers without leading zeros, names as written (lowercase)."""
    return str(int(token)) if token.isascii() and token.isdigit() else token.lower()
