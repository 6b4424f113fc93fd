"""Whole cron expressions: 5/6/7 fields, macros, the separate ``cron_*`` fields, normalised text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.cron.fields import SPECS, WEEKDAY_NAMES, ParsedField
from gnomon.triggers.cron.syntax import parse_field, weekday_word

EXPRESSION_KEY = "cron_expression"
#: The longest expression, or separate field, read: a real one is a few dozen characters, and
#: every longer text only costs time to parse and to search.
MAX_LENGTH = 256
#: The input keys of the separate fields, in the order of a 7-field expression.
FIELD_KEYS = (
    "cron_second",
    "cron_minute",
    "cron_hour",
    "cron_day",
    "cron_month",
    "cron_weekday",
    "year",
)

MACROS = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@midnight": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
_ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "last")
# How large each field is, for "fields smaller than the largest given default to their minimum";
# day-of-week ranks with day-of-month.
_RANKS = (0, 1, 2, 3, 4, 3, 5)
_MINIMUMS = ("0", "0", "0", "1", "1", "*", "*")
_DAY, _WEEKDAY = 3, 5


class CronFields(NamedTuple):
    """The seven parsed fields of a cron expression."""

    second: ParsedField
    minute: ParsedField
    hour: ParsedField
    day: ParsedField
    month: ParsedField
    day_of_week: ParsedField
    year: ParsedField

    @property
    def expression(self) -> str:
        """The normalised 7-field text, e.g. ``0 30 2 * * mon-fri *``."""
        return " ".join(field.text for field in self)


def split_expression(text: str) -> list[str]:
    """The seven field texts of a 5-, 6- or 7-field expression or a macro; ValueError if neither."""
    stripped = text.strip()
    if stripped.startswith("@"):
        macro = MACROS.get(stripped.lower())
        if macro is None:
            raise ValueError(f"unknown macro {stripped!r}; use one of {', '.join(MACROS)}")
        return macro.split()
    tokens = _join_word_forms(stripped.split())
    if len(tokens) == 5:
        return ["0", *tokens, "*"]
    if len(tokens) == 6:
        return [*tokens, "*"]
    if len(tokens) == 7:
        return tokens
    raise ValueError(
        f"{text.strip()!r} has {len(tokens)} fields; expected 5 (minute hour day-of-month month "
        "day-of-week), 6 (second first) or 7 (second first, year last)"
    )


def _join_word_forms(tokens: list[str]) -> list[str]:
    """Keep ``last fri`` / ``2nd mon`` together as one field although they contain a space."""
    joined: list[str] = []
    for token in tokens:
        if joined and joined[-1].lower() in _ORDINALS and token.lower() in WEEKDAY_NAMES:
            joined[-1] = f"{joined[-1]} {token}"
        else:
            joined.append(token)
    return joined


def build_fields(expression: str | None, parts: Mapping[str, str]) -> CronFields:
    """Parse an expression and/or separate fields (keys of FIELD_KEYS) into the seven fields.

    Each separate field overrides its part of the expression; without an expression, missing
    fields default as SPEC §2.1 says. Raises TriggerInvalid naming each input key at fault,
    also when a text is longer than MAX_LENGTH or a field lists more than MAX_ITEMS items.
    """
    problems = [
        Problem(key, f"is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
        for key, text in ((EXPRESSION_KEY, expression), *parts.items())
        if text is not None and len(text) > MAX_LENGTH
    ]
    if problems:
        raise TriggerInvalid(problems)
    owners = [EXPRESSION_KEY] * 7
    texts = default_texts(parts)
    if expression is not None:
        try:
            texts = split_expression(expression)
        except ValueError as exc:
            problems.append(Problem(EXPRESSION_KEY, str(exc)))
    for index, key in enumerate(FIELD_KEYS):
        if key in parts:
            texts[index], owners[index] = parts[key], key
    _move_weekday_words(texts, owners)
    fields: list[ParsedField] = []
    for spec, text, owner in zip(SPECS, texts, owners, strict=True):
        try:
            fields.append(parse_field(spec, text, owner))
        except TriggerInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise TriggerInvalid(problems)
    return CronFields(*fields)


def default_texts(given: Mapping[str, object]) -> list[str]:
    """Field texts for the separate fields not given: ``0 * * * * * *``, with the fields smaller
    than the largest given at their minimum; day-of-month stays ``*`` when day-of-week is given."""
    ranks = [rank for rank, key in zip(_RANKS, FIELD_KEYS, strict=True) if key in given]
    largest = max(ranks, default=0)
    texts = [
        minimum if rank < largest else "*" for rank, minimum in zip(_RANKS, _MINIMUMS, strict=True)
    ]
    texts[0] = "0"
    if FIELD_KEYS[_WEEKDAY] in given:
        texts[_DAY] = "*"
    return texts


def _move_weekday_words(texts: list[str], owners: list[str]) -> None:
    """Move ``last fri`` / ``1st mon`` written in day-of-month (as APScheduler users do) to
    day-of-week, where they are ``5L`` / ``1#1``; plain days stay, and match too (the OR rule).

    With a restricted day-of-week they stay put, and parsing day-of-month reports them."""
    tokens = [token.strip() for token in texts[_DAY].split(",")]
    words = [canonical for token in tokens if (canonical := _weekday_word(token))]
    weekday = texts[_WEEKDAY].strip()
    if not words or not (weekday.startswith("*") or weekday == "?"):
        return
    texts[_DAY] = ",".join(token for token in tokens if not _weekday_word(token)) or "*"
    texts[_WEEKDAY] = ",".join(words)
    owners[_WEEKDAY] = owners[_DAY]


def _weekday_word(token: str) -> str | None:
    try:
        return weekday_word(token)
    except ValueError:
        return None  # parsing day-of-month reports it
