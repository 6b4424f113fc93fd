"""Moving from celery beat: a Celery app's `beat_schedule` as gnomon `celery_task` jobs (TOML).

Each entry becomes a `[[jobs]]` table sending the same task, with the same args, kwargs, queue,
exchange, routing key and serializer, on the same schedule: a `crontab` becomes a cron trigger
in the app's timezone, a number of seconds or a `timedelta` an interval trigger. What has no
gnomon equivalent is refused entry by entry, saying why: solar schedules, fractions of a
second, and crontabs restricting both the day of the month and the day of the week (Celery
fires on days matching both, a cron expression on days matching either).
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gnomon.config import JOB_ID_PATTERN, QUEUE_PATTERN, TASK_PATTERN
from gnomon.errors import BeatImportFailed

#: The entry options carried over (`options` of a beat entry): the rest are named as dropped.
CARRIED_OPTIONS = ("queue", "exchange", "routing_key", "serializer")
SERIALIZERS = ("json", "msgpack", "yaml", "pickle")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass
class BeatConversion:
    """The jobs converted (as TOML tables' values, in entry order), and each entry refused or
    changed on the way, with why."""

    source: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def to_toml(self) -> str:
        """The jobs as `[[jobs]]` tables, with the refused entries and notes as comments."""
        lines = [
            f"# The beat_schedule of {self.source}, converted by `gnomon import celery-beat`.",
            "# gnomon sends these tasks to the broker of [celery] broker_url; set",
            '# [celery] result_backend too (or track = "events", your workers started with',
            "# -E) for runs to follow each task's outcome.",
        ]
        for name, why in self.refused:
            lines.append(f"# NOT CONVERTED {name!r}: {why}")
        for job in self.jobs:
            lines += ["", "[[jobs]]"]
            for name, why in self.notes:
                if name == job["name"]:
                    lines.append(f"# {why}")
            lines += [f"{key} = {toml_value(value)}" for key, value in job.items()]
        return "\n".join(lines) + "\n"


def load_app(spec: str) -> Any:
    """The Celery app `MODULE:ATTRIBUTE` names (the working directory on sys.path, as the
    celery command has it). Raises BeatImportFailed saying what is wrong."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise BeatImportFailed(f"{spec!r}: give the app as MODULE:APP, e.g. proj.celery:app")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # whatever the user's module raised while imported
        raise BeatImportFailed(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise BeatImportFailed(f"{module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    if not hasattr(found, "conf"):
        raise BeatImportFailed(f"{spec!r} is not a Celery app (it has no conf)")
    return found


def convert_beat_schedule(app: Any, source: str) -> BeatConversion:
    """The app's beat_schedule as celery_task jobs. Raises BeatImportFailed when it has none."""
    schedule = app.conf.beat_schedule or {}
    if not schedule:
        raise BeatImportFailed(f"{source} has an empty beat_schedule: nothing to convert")
    timezone = str(app.conf.timezone or "UTC")
    conversion = BeatConversion(source)
    ids: set[str] = set()
    for name, entry in schedule.items():
        try:
            job = _job(str(name), entry, timezone, conversion)
        except _Refused as refused:
            conversion.refused.append((str(name), str(refused)))
            continue
        job["id"] = _unique(_job_id(str(name)), ids)
        conversion.jobs.append({"id": job.pop("id"), **job})
    return conversion


class _Refused(Exception):
    pass


def _job(name: str, entry: Any, timezone: str, conversion: BeatConversion) -> dict[str, Any]:
    if not isinstance(entry, dict) or "task" not in entry or "schedule" not in entry:
        raise _Refused("an entry needs 'task' and 'schedule'")
    task = str(entry["task"])
    if not TASK_PATTERN.match(task):
        raise _Refused(f"task name {task!r} is not one gnomon accepts")
    job: dict[str, Any] = {"name": name, "kind": "celery_task", "task": task}
    args = list(entry.get("args") or ())
    kwargs = dict(entry.get("kwargs") or {})
    for value, what in ((args, "args"), (kwargs, "kwargs")):
        problem = _not_toml(value)
        if problem:
            raise _Refused(f"{what}: {problem}")
    if args:
        job["args"] = args
    if kwargs:
        job["kwargs"] = kwargs
    options = dict(entry.get("options") or {})
    queue = options.pop("queue", None)
    if queue is not None:
        queue = getattr(queue, "name", queue)  # a kombu Queue, or its name
        if not QUEUE_PATTERN.match(str(queue)):
            raise _Refused(f"queue {queue!r} is not a name gnomon accepts")
        job["queue"] = str(queue)
    celery: dict[str, str] = {}
    for key in CARRIED_OPTIONS[1:]:
        if key in options:
            value = options.pop(key)
            celery[key] = str(getattr(value, "name", value))  # a kombu Exchange, or its name
    if celery.get("serializer", "json") not in SERIALIZERS:
        raise _Refused(
            f"serializer {celery['serializer']!r}: gnomon sends {', '.join(SERIALIZERS)}"
        )
    if celery:
        job["celery"] = celery
    if options:
        dropped = ", ".join(sorted(options))
        conversion.notes.append((name, f"options not carried over: {dropped}"))
    if entry.get("relative"):
        conversion.notes.append((name, "relative = True not carried over"))
    job["trigger"] = _trigger(entry["schedule"], timezone)
    return job


def _trigger(schedule: Any, timezone: str) -> dict[str, Any]:
    from celery.schedules import crontab, solar  # type: ignore[import-untyped]
    from celery.schedules import schedule as every

    if isinstance(schedule, solar):
        raise _Refused(
            "solar schedules (sunrise, dusk …) have no gnomon trigger: give it a cron trigger "
            "at a fixed time instead"
        )
    if isinstance(schedule, crontab):
        return {"type": "cron", "expression": _cron(schedule), "timezone": timezone}
    if isinstance(schedule, every):
        schedule = schedule.run_every
    if isinstance(schedule, timedelta):
        seconds: float = schedule.total_seconds()
    elif isinstance(schedule, int | float) and not isinstance(schedule, bool):
        seconds = float(schedule)
    else:
        raise _Refused(f"schedule {schedule!r} is not a crontab, timedelta or number of seconds")
    if seconds < 1 or seconds != int(seconds):
        raise _Refused(f"every {seconds:g}s: gnomon intervals are whole seconds, at least 1")
    return {"type": "interval", "seconds": int(seconds)}


def _cron(schedule: Any) -> str:
    full_dom = schedule.day_of_month == set(range(1, 32))
    full_dow = schedule.day_of_week == set(range(7))
    if not full_dom and not full_dow:
        raise _Refused(
            "the crontab restricts both day_of_month and day_of_week: Celery fires on days "
            "matching both, a cron expression on days matching either; split it into two "
            "entries or restrict one of them"
        )
    fields = [
        "0",
        _field(schedule.minute, range(60)),
        _field(schedule.hour, range(24)),
        _field(schedule.day_of_month, range(1, 32)),
        _field(schedule.month_of_year, range(1, 13)),
        _field(schedule.day_of_week, range(7), names=_DAY_NAMES),
    ]
    return " ".join(fields)


def _field(values: set[int], full: range, names: tuple[str, ...] | None = None) -> str:
    """A cron field from the set of values Celery expanded: `*`, or ranges and values."""
    if set(values) == set(full):
        return "*"
    parts: list[str] = []
    ordered = sorted(values)
    start = prev = ordered[0]

    def label(value: int) -> str:
        return names[value] if names else str(value)

    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        if prev - start >= 2:
            parts.append(f"{label(start)}-{label(prev)}")
        else:
            parts.extend(label(v) for v in range(start, prev + 1))
        if value is not None:
            start = prev = value
    return ",".join(parts)


def _job_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "beat"
    slug = slug[:60]
    return slug if JOB_ID_PATTERN.match(slug) else f"beat-{slug}"[:60]


def _unique(job_id: str, taken: set[str]) -> str:
    candidate, n = job_id, 2
    while candidate in taken:
        candidate, n = f"{job_id}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _not_toml(value: Any) -> str | None:
    """Why `value` cannot be written in TOML (None: it can)."""
    if value is None:
        return "None cannot be written in TOML"
    if isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} cannot be written in TOML"
    if isinstance(value, list | tuple):
        return next((p for p in map(_not_toml, value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "keys must be strings"
        return next((p for p in map(_not_toml, value.values()) if p), None)
    return f"{type(value).__name__} values cannot be written in TOML"


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """`value` (str, int, float, bool, list, dict of those) as a TOML value; dicts inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = [
            f"{key if _BARE_KEY.match(key) else json.dumps(key)} = {toml_value(item)}"
            for key, item in value.items()
        ]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"{type(value).__name__} cannot be written in TOML")
