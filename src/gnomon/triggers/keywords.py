"""Triggers from Python keywords, as `gnomon.Scheduler.add_job` takes them.

The vocabulary is the configuration file's: ``add_job(f, "cron", expression="*/5 * * * *")``,
``add_job(f, "interval", seconds=30)``, ``add_job(f, "date", run_date=...)``, or a mapping such
as ``{"type": "cron", "expression": "0 3 * * *"}``. The API's spellings (``trigger_type``,
``cron_expression``, ``cron_hour`` …) are accepted too, as the file accepts them, and so are the
cron keywords APScheduler users type (``hour=3``, ``minute="*/5"``, ``day_of_week="mon-fri"``)
where they mean the same; the ones that do not are refused with a message naming them.
Datetimes and timezones may be given as Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerType
from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.base import Trigger
from gnomon.triggers.cron.expression import EXPRESSION_KEY, FIELD_KEYS
from gnomon.triggers.date import DateTrigger
from gnomon.triggers.parse import INPUT_KEYS, parse_trigger
from gnomon.triggers.timezones import resolve_timezone

#: The configuration file's names (and APScheduler's cron keywords) for the trigger language's
#: keys. Each means exactly what the key it stands for means.
ALIASES: Mapping[str, str] = {
    "type": "trigger_type",
    "expression": EXPRESSION_KEY,
    "second": "cron_second",
    "minute": "cron_minute",
    "hour": "cron_hour",
    "day": "cron_day",
    "month": "cron_month",
}
#: APScheduler's `day_of_week`: the same as `cron_weekday` when given as day names; its numbers
#: count from Monday (0) where cron's count from Sunday (0), so numbers are refused.
DAY_OF_WEEK = "day_of_week"
#: APScheduler keywords gnomon's triggers have no equivalent of, and what to do instead.
UNSUPPORTED: Mapping[str, str] = {
    "week": "APScheduler's ISO week number has no cron equivalent in gnomon; "
    "use a cron expression (e.g. day and month fields) instead",
    "end_date": "gnomon's triggers have no end date; remove the job (or pause it) when it "
    "should stop, or use a cron 'year' field",
}
TRIGGER_TYPES = tuple(kind.value for kind in TriggerType)
_DATETIME_KEYS = ("run_date", "start_date")


def trigger_keys() -> frozenset[str]:
    """Every keyword that belongs to some trigger (so is not a job option)."""
    keys = {"trigger_type", "timezone", *ALIASES, DAY_OF_WEEK, *UNSUPPORTED}
    for kind_keys in INPUT_KEYS.values():
        keys.update(kind_keys)
    return frozenset(keys)


def build_trigger(
    trigger: Trigger | Mapping[str, Any] | str | None,
    keywords: Mapping[str, Any],
    *,
    default_timezone: str,
    now: datetime,
) -> Trigger:
    """The trigger `add_job(func, trigger, **keywords)` means.

    `trigger`: a Trigger (then no `keywords`), a trigger type ("cron", "interval", "date") with
    that type's `keywords`, a mapping of keys (in either vocabulary; then no `keywords`), or
    None: run once, now. Raises TriggerInvalid naming each key at fault as the caller wrote it.
    """
    if isinstance(trigger, Trigger):
        if keywords:
            raise TriggerInvalid(
                [
                    Problem(key, "a Trigger object was given: put this in the Trigger")
                    for key in keywords
                ]
            )
        return trigger
    if trigger is None:
        if keywords:
            raise TriggerInvalid(
                [
                    Problem(
                        "trigger",
                        f"missing: give the trigger type ({', '.join(TRIGGER_TYPES)}) "
                        f"for {', '.join(sorted(keywords))}",
                    )
                ]
            )
        # Fires at `now`: its first fire time is taken from an instant just before.
        return DateTrigger(now, resolve_timezone(default_timezone))
    if isinstance(trigger, str):
        if trigger not in TRIGGER_TYPES:
            raise TriggerInvalid(
                [
                    Problem(
                        "trigger", f"must be {', '.join(map(repr, TRIGGER_TYPES))}, not {trigger!r}"
                    )
                ]
            )
        if "type" in keywords or "trigger_type" in keywords:
            key = "type" if "type" in keywords else "trigger_type"
            raise TriggerInvalid([Problem(key, "the trigger type is given already")])
        given: dict[str, Any] = {"type": trigger, **keywords}
    elif isinstance(trigger, Mapping):
        if keywords:
            raise TriggerInvalid(
                [Problem(key, "a trigger mapping was given: put this in it") for key in keywords]
            )
        given = dict(trigger)
    else:
        raise TriggerInvalid(
            [
                Problem(
                    "trigger",
                    "must be a gnomon Trigger, a trigger type "
                    f"({', '.join(TRIGGER_TYPES)}) or a mapping, not {type(trigger).__name__}",
                )
            ]
        )
    data, written_as = _translate(given)
    try:
        return parse_trigger(data, default_timezone=default_timezone, now=now)
    except TriggerInvalid as exc:
        raise TriggerInvalid(
            Problem(written_as.get(p.field, p.field), p.message) for p in exc.problems
        ) from None


def _translate(given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The trigger language's input for `given`, and for each of its keys the name the caller
    used. Raises TriggerInvalid for keywords with no equivalent and keys given twice."""
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    written_as: dict[str, str] = {}
    for key, value in given.items():
        key = str(key)
        if key in UNSUPPORTED:
            problems.append(Problem(key, UNSUPPORTED[key]))
            continue
        if key == DAY_OF_WEEK:
            if isinstance(value, str) and not any(ch.isdigit() for ch in value):
                name = "cron_weekday"
            else:
                problems.append(
                    Problem(
                        key,
                        "give day names (e.g. 'mon-fri'): APScheduler numbers days from Monday "
                        "(0) and cron from Sunday (0); or give cron_weekday in cron's numbering",
                    )
                )
                continue
        else:
            name = ALIASES.get(key, key)
        if name in data:
            problems.append(Problem(key, f"given twice (as {written_as[name]!r} and {key!r})"))
            continue
        data[name] = _plain(name, value)
        written_as[name] = key
    if problems:
        raise TriggerInvalid(problems)
    return data, written_as


def _plain(key: str, value: Any) -> Any:
    """Python objects as the trigger language's text: datetimes and dates as ISO 8601 (a naive
    one is read in the trigger's timezone), a timezone as its IANA name."""
    if key in _DATETIME_KEYS and isinstance(value, datetime | date):
        return value.isoformat()
    if key == "timezone" and isinstance(value, tzinfo):
        if isinstance(value, ZoneInfo):
            return value.key
        name = value.tzname(None)
        return "UTC" if name in ("UTC", "UTC+00:00") else value
    if key in FIELD_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value
