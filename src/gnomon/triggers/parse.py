"""Building triggers from user input (API bodies, config) and from their stored specs."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerSpec, TriggerType
from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers import date, interval
from gnomon.triggers.base import Trigger
from gnomon.triggers.cron.expression import EXPRESSION_KEY, FIELD_KEYS
from gnomon.triggers.cron.trigger import CronTrigger
from gnomon.triggers.date import DateTrigger
from gnomon.triggers.interval import IntervalTrigger
from gnomon.triggers.timezones import resolve_timezone

#: The input keys each trigger type takes, besides `trigger_type` and `timezone`.
INPUT_KEYS: Mapping[TriggerType, tuple[str, ...]] = {
    TriggerType.CRON: (EXPRESSION_KEY, *FIELD_KEYS),
    TriggerType.INTERVAL: interval.INPUT_KEYS,
    TriggerType.DATE: date.INPUT_KEYS,
}
_COMMON_KEYS = ("trigger_type", "timezone")
#: The configuration file's short names (`trigger = { type = "cron", expression = "…" }`),
#: refused here as unknown keys but with the name this input uses.
CONFIG_KEY_NAMES: Mapping[str, str] = {"type": "trigger_type", "expression": "cron_expression"}


def parse_trigger(data: Mapping[str, Any], *, default_timezone: str, now: datetime) -> Trigger:
    """Validate user input and build its trigger.

    `data` holds `trigger_type` ("cron" | "interval" | "date"), that type's keys and an optional
    `timezone` (absent or null: `default_timezone`); a null value counts as absent. `now` is
    the instant "in the past" is measured from and the default anchor of interval triggers.
    Raises TriggerInvalid listing every problem, each naming its input key.
    """
    if now.tzinfo is None:
        raise ValueError("parse_trigger needs a timezone-aware now")
    if not isinstance(data, Mapping):
        raise TriggerInvalid([Problem("", "a trigger must be a JSON object")])
    problems: list[Problem] = []
    kind = _trigger_type(data.get("trigger_type"), problems)
    problems += _key_problems(data, kind)
    timezone = _timezone(data.get("timezone"), default_timezone, problems)
    if kind is None:
        raise TriggerInvalid(problems)
    values = {key: value for key, value in data.items() if key in INPUT_KEYS[kind]}
    values = {key: value for key, value in values.items() if value is not None}
    try:
        # With a bad timezone, build in UTC all the same to report the other problems too.
        trigger = _BUILDERS[kind](values, timezone or ZoneInfo("UTC"), now)
    except TriggerInvalid as exc:
        problems += exc.problems
    if problems:
        raise TriggerInvalid(problems)
    return trigger


def load_trigger(spec: TriggerSpec) -> Trigger:
    """Rebuild a trigger from the spec :meth:`Trigger.to_spec` produced (no "past" check).

    Raises TriggerInvalid when `spec` is not such a spec. Results are cached by the spec's text:
    triggers are immutable, and listing jobs rebuilds every job's trigger on each request.
    """
    if not isinstance(spec, Mapping):
        raise TriggerInvalid([Problem("", "a stored trigger must be a JSON object")])
    try:
        key = json.dumps(spec, sort_keys=True)
    except (TypeError, ValueError):
        return _load(spec)  # not JSON: let the loader name the problem
    cached = _CACHE.get(key)
    return cached if cached is not None else _CACHE.put(key, _load(json.loads(key)))


def cache_trigger(trigger: Trigger) -> TriggerSpec:
    """The trigger's spec, with the trigger cached so that `load_trigger(spec)` returns it.

    Declared jobs' triggers are parsed once, from the config; registering them and the
    scheduler's first load then find them here instead of rebuilding each one.
    """
    spec = trigger.to_spec()
    _CACHE.put(json.dumps(spec, sort_keys=True), trigger)
    return spec


class _TriggerCache:
    """The most recently used triggers by spec text (functools.lru_cache cannot be filled
    with values built elsewhere)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Trigger] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Trigger | None:
        with self._lock:
            trigger = self._items.get(key)
            if trigger is not None:
                self._items.move_to_end(key)
            return trigger

    def put(self, key: str, trigger: Trigger) -> Trigger:
        with self._lock:
            self._items[key] = trigger
            self._items.move_to_end(key)
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return trigger


_CACHE = _TriggerCache(16384)


def _load(spec: Mapping[str, Any]) -> Trigger:
    kind = spec.get("type")
    loader = _LOADERS.get(kind) if isinstance(kind, str) else None
    if loader is None:
        raise TriggerInvalid([Problem("type", f"unknown trigger type {kind!r}")])
    return loader(dict(spec))


def _trigger_type(value: object, problems: list[Problem]) -> TriggerType | None:
    if value is None:
        problems.append(Problem("trigger_type", "is required: 'cron', 'interval' or 'date'"))
        return None
    if isinstance(value, str) and value in TriggerType.__members__.values():
        return TriggerType(value)
    problems.append(Problem("trigger_type", f"must be 'cron', 'interval' or 'date', not {value!r}"))
    return None


def _key_problems(data: Mapping[str, Any], kind: TriggerType | None) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in data.items():
        if key in _COMMON_KEYS or (kind is not None and key in INPUT_KEYS[kind]):
            continue
        owner = next((other for other, keys in INPUT_KEYS.items() if key in keys), None)
        if owner is None and key in CONFIG_KEY_NAMES:
            problems.append(Problem(key, f"unknown key; did you mean {CONFIG_KEY_NAMES[key]!r}?"))
        elif owner is None:
            problems.append(Problem(str(key), "unknown key"))
        elif value is not None and kind is not None:
            problems.append(Problem(key, f"belongs to {owner} triggers, not {kind} triggers"))
    return problems


def _timezone(value: object, default: str, problems: list[Problem]) -> ZoneInfo | None:
    name = default if value is None else value
    if not isinstance(name, str):
        problems.append(Problem("timezone", f"must be an IANA name, not {name!r}"))
        return None
    try:
        return resolve_timezone(name)
    except TriggerInvalid as exc:
        problems += exc.problems
        return None


_BUILDERS: Mapping[TriggerType, Callable[[Mapping[str, Any], ZoneInfo, datetime], Trigger]] = {
    TriggerType.CRON: CronTrigger.from_input,
    TriggerType.INTERVAL: IntervalTrigger.from_input,
    TriggerType.DATE: DateTrigger.from_input,
}
_LOADERS: Mapping[str, Callable[[TriggerSpec], Trigger]] = {
    TriggerType.CRON.value: CronTrigger.from_spec,
    TriggerType.INTERVAL.value: IntervalTrigger.from_spec,
    TriggerType.DATE.value: DateTrigger.from_spec,
}
