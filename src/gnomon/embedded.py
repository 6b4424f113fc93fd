"""gnomon inside an application: `gnomon.Scheduler`, with ad-hoc jobs added from Python."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from gnomon.alerts_config import route_problems, routes
from gnomon.config import LoadedConfig, StoreSettings, load_config
from gnomon.domain import Isolation, JobDefinition, JobKind, Route, Run, TriggerSpec
from gnomon.errors import Problem, ValidationFailed
from gnomon.events import EventHooks, Events, Listener
from gnomon.jsondata import json_arguments
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor, JobView
from gnomon.triggers import Trigger
from gnomon.triggers.keywords import build_trigger, trigger_keys

APPLICATION = Actor("application")
#: The store of an embedded scheduler with none configured: SQLite, in memory.
MEMORY = "sqlite://"
#: APScheduler's add_job keywords that gnomon has no use for, and why.
APSCHEDULER_ONLY = {
    "next_run_time": "the first run follows from the trigger; for a run now, also call "
    "run_job(id) after add_job",
    "jobstore": "a gnomon process has one store: [store] url or Scheduler(store_url=...)",
    "executor": "use isolation='thread' or isolation='process'",
}
_TRIGGER_KEYS = trigger_keys()
_JUST_BEFORE = timedelta(microseconds=1)
F = TypeVar("F", bound=Callable[..., Any])


class Scheduler:
    """A gnomon scheduler running in this process, configured like `gnomon scheduler`.

    Jobs declared in the configuration are builtin; jobs added with `add_job` are ad-hoc: listed,
    paused, resumed and run like others, never re-triggered through the HTTP API, and dropped by a
    reload. Nothing starts until `start()`.

    The configuration is read as gnomon's commands read it (`config`, else $GNOMON_CONFIG, else
    ./gnomon.toml if there is one, and GNOMON_* variables of `env`, by default os.environ).
    `store_url` and `timezone` override its [store] url and [scheduler] timezone. Where no store
    is configured (no store URL, no data_dir), the store is a SQLite database in memory, as
    APScheduler's default job store is: nothing is written to disk, and jobs and runs last as
    long as the process. Give a store URL (or a data_dir) to keep them, and to share them with
    other gnomon processes and the console.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        store_url: str | None = None,
        timezone: str | None = None,
    ) -> None:
        env = dict(os.environ) if env is None else dict(env)
        if store_url is not None:
            env["GNOMON_STORE_URL"] = store_url
        if timezone is not None:
            env["GNOMON_SCHEDULER_TIMEZONE"] = timezone
        loaded = load_config(config, env)
        if not store_configured(loaded):
            loaded = dataclasses.replace(
                loaded,
                settings=loaded.settings.model_copy(update={"store": StoreSettings(url=MEMORY)}),
            )
        self.runtime = Runtime(loaded, config_source=config, env=env)
        self._lock = threading.Lock()
        self._prepared = False
        self._default_routes: tuple[Route, ...] | None = None
        # The scheduler's reporting hooks: run events for the listeners.
        self._events = EventHooks()

    def start(self) -> None:
        """Migrate the store, register the declared jobs and start firing."""
        self._prepare()
        self.runtime.start_scheduler(metrics=self._events)

    def _prepare(self) -> None:
        """Migrate the store once, before its first use (jobs may be added before start())."""
        with self._lock:
            if not self._prepared:
                self.runtime.prepare_store()
                self._prepared = True

    def shutdown(self, grace: float | None = None) -> None:
        """Stop firing; running runs get `grace` seconds (default: the configured grace). The
        listeners are told of the runs that ended meanwhile before this returns."""
        self.runtime.close(grace)
        self._events.close()

    def add_listener(self, callback: Listener, events: Events = Events.ALL) -> None:
        """Call `callback(event)` (a RunEvent) for each of `events` (gnomon.Events flags, e.g.
        ``Events.FAILED | Events.MISSED``) that happens in this process: runs started, finished,
        failed; fire times missed or skipped.

        Callbacks run one at a time, in order, on a thread of their own, never the scheduler's
        or a job's: a slow one delays only the events after it. One that raises is logged
        (logger ``gnomon.events``) and the scheduler goes on. The run's record may still be on
        its way to the store when its event arrives.
        """
        self._events.add_listener(callback, events)

    def remove_listener(self, callback: Listener) -> None:
        self._events.remove_listener(callback)

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: Trigger | Mapping[str, Any] | str | None = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        *,
        replace_existing: bool = False,
        **keywords: Any,
    ) -> JobView:
        """Add an ad-hoc job running `func` (a module-level callable or "module:function").

        `trigger` is one of:

        - a trigger type with its keys as keywords, as in the configuration file:
          ``add_job(f, "interval", seconds=30)``, ``add_job(f, "cron", expression="0 3 * * *",
          timezone="UTC")``, ``add_job(f, "date", run_date=datetime(2030, 1, 1, 9))``
          (APScheduler's cron keywords ``second`` … ``month``, ``year`` and ``day_of_week`` as
          day names work too);
        - a gnomon Trigger (gnomon.triggers: CronTrigger, IntervalTrigger, DateTrigger);
        - a mapping of the same keys, e.g. ``{"type": "cron", "expression": "0 3 * * *"}``
          (or the API's ``{"trigger_type": "cron", "cron_expression": …}``);
        - None: run once, now.

        `args` and `kwargs` are what `func` is called with: JSON data (None, bools, numbers,
        strings, lists and tuples, dicts with string keys), stored with the job; `func` gets
        them back as JSON gives them (tuples as lists). Anything else is refused with
        ValidationFailed naming where it is.

        `id` defaults to a new random one (give one, with replace_existing=True, for a job
        that should be added once however often the application starts on a persistent
        store); `name` to the id given, else the function's name. The other keywords are job
        options: misfire_grace_time, coalesce, max_instances, timeout, isolation ("thread" or
        "process"; default: the [scheduler] setting), env and inherit_env (for a
        process-isolated target; inherit_env defaults to the [scheduler] setting),
        public_kwargs (viewers of the API see the kwargs' values, not only their keys),
        description, notify (ids of configured notification channels; default: [scheduler]
        notify).

        Raises TriggerInvalid, ValidationFailed (naming each keyword at fault), JobExists.
        """
        now = self.runtime.jobs.now()
        definition = self._definition(func, trigger, args, kwargs, id, name, keywords, now)
        self._prepare()
        # A job to run once now fires at `now`: its first fire time is the first after an
        # instant just before.
        after = now - _JUST_BEFORE if trigger is None else now
        return self.runtime.jobs.add_job(definition, APPLICATION, replace_existing, after=after)

    def add_jobs(
        self, jobs: Iterable[Mapping[str, Any]], *, replace_existing: bool = False
    ) -> list[JobView]:
        """Add many jobs in one transaction: all of them, or (on any error) none.

        Each item holds add_job's arguments by name, e.g. ``{"func": refresh, "trigger":
        "interval", "minutes": 5, "args": [42], "id": "refresh-42"}``. Every item is checked
        before anything is written; ValidationFailed lists the problems of all of them, each
        field prefixed by the item's index (``[3].seconds``). Raises JobExists for the first job
        that exists already, unless replace_existing. Each job gets its own audit entry, written
        in the same transaction.
        """
        now = self.runtime.jobs.now()
        definitions: list[JobDefinition] = []
        after: dict[str, datetime] = {}
        problems: list[Problem] = []
        # Jobs added together mostly share a few triggers: each is parsed once.
        specs: dict[str, TriggerSpec] = {}
        for index, item in enumerate(jobs):
            try:
                keywords = dict(item)
                if "replace_existing" in keywords:
                    raise ValidationFailed(
                        [Problem("replace_existing", "give it to add_jobs, for every job")]
                    )
                if "func" not in keywords:
                    raise ValidationFailed([Problem("func", "is required")])
                func = keywords.pop("func")
                trigger = keywords.pop("trigger", None)
                args = keywords.pop("args", None)
                kwargs = keywords.pop("kwargs", None)
                job_id = keywords.pop("id", None)
                name = keywords.pop("name", None)
                definition = self._definition(
                    func, trigger, args, kwargs, job_id, name, keywords, now, specs
                )
            except (ValidationFailed, ValueError, TypeError) as exc:
                found = (
                    exc.problems if isinstance(exc, ValidationFailed) else [Problem("", str(exc))]
                )
                problems += [
                    Problem(f"[{index}].{p.field}" if p.field else f"[{index}]", p.message)
                    for p in found
                ]
                continue
            definitions.append(definition)
            if trigger is None:
                after[definition.id] = now - _JUST_BEFORE
        if problems:
            raise ValidationFailed(problems, "invalid jobs, none added")
        self._prepare()
        return self.runtime.jobs.add_jobs(definitions, APPLICATION, replace_existing, after=after)

    def scheduled_job(
        self,
        trigger: Trigger | Mapping[str, Any] | str | None = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        *,
        replace_existing: bool = False,
        **keywords: Any,
    ) -> Callable[[F], F]:
        """A decorator adding the module-level function it decorates as a job, with add_job's
        arguments; the function is returned unchanged::

            @scheduler.scheduled_job("interval", minutes=5, id="refresh")
            def refresh() -> None: ...
        """

        def decorate(func: F) -> F:
            self.add_job(
                func,
                trigger,
                args,
                kwargs,
                id,
                name,
                replace_existing=replace_existing,
                **keywords,
            )
            return func

        return decorate

    def _definition(
        self,
        func: Callable[..., Any] | str,
        trigger: Trigger | Mapping[str, Any] | str | None,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        id: str | None,
        name: str | None,
        keywords: Mapping[str, Any],
        now: datetime,
        specs: dict[str, TriggerSpec] | None = None,
    ) -> JobDefinition:
        """The definition add_job(func, trigger, args, kwargs, id, name, **keywords) adds, at
        `now`. `specs`: trigger specs already built at `now`, by their input's text (filled
        in)."""
        settings = self.runtime.config.settings.scheduler
        options = {key: value for key, value in keywords.items() if key in JOB_OPTIONS}
        trigger_keywords = {k: v for k, v in keywords.items() if k not in JOB_OPTIONS}
        _check_keywords(trigger_keywords)
        _check_options(options)
        isolation = options.pop("isolation", settings.isolation)
        notify = self._routes(options.pop("notify", None))
        spec = self._trigger_spec(trigger, trigger_keywords, now, specs)
        target = func if isinstance(func, str) else target_of(func)
        arguments = json_arguments(args, kwargs)
        return JobDefinition(
            id=id if id is not None else uuid.uuid4().hex,
            name=name or id or target.rpartition(":")[2],
            trigger=spec,
            kind=JobKind.PYTHON,
            target=target,
            args=arguments[0],
            kwargs=arguments[1],
            misfire_grace_time=options.pop("misfire_grace_time", settings.misfire_grace_time),
            coalesce=options.pop("coalesce", settings.coalesce),
            max_instances=options.pop("max_instances", settings.max_instances),
            isolation=Isolation(isolation),
            inherit_env=options.pop("inherit_env", settings.inherit_env),
            is_builtin=False,
            notify=notify,
            **options,
        )

    def _trigger_spec(
        self,
        trigger: Trigger | Mapping[str, Any] | str | None,
        keywords: Mapping[str, Any],
        now: datetime,
        specs: dict[str, TriggerSpec] | None,
    ) -> TriggerSpec:
        """The spec of build_trigger(trigger, keywords) at `now`, from `specs` when there."""
        key = None
        if specs is not None and not isinstance(trigger, Trigger):
            try:
                key = json.dumps([trigger, keywords], sort_keys=True)
            except (TypeError, ValueError):
                key = None  # datetimes, timezones: built each time
        if key is not None and specs is not None and key in specs:
            return dict(specs[key])  # a copy per job: no two records share one
        timezone = self.runtime.config.settings.scheduler.timezone
        spec = build_trigger(trigger, keywords, default_timezone=timezone, now=now).to_spec()
        if key is not None and specs is not None:
            specs[key] = spec
        return spec

    def _routes(self, names: Sequence[str] | None) -> tuple[Route, ...]:
        """The routes of the named channels (default: [scheduler] notify); ValidationFailed
        naming a channel the configuration does not declare."""
        settings = self.runtime.config.settings
        if names is None:
            if self._default_routes is None:
                self._default_routes = self._routes(settings.scheduler.notify)
            return self._default_routes
        known = {channel.id for channel in settings.notifications}
        problems = route_problems("notify", list(names), known)
        if problems:
            raise ValidationFailed(problems)
        return routes(list(names), settings.notifications)

    def remove_job(self, job_id: str) -> None:
        """Raises JobNotFound."""
        self._prepare()
        self.runtime.jobs.remove_job(job_id, APPLICATION)

    def get_jobs(self) -> list[JobView]:
        self._prepare()
        return self.runtime.jobs.list_jobs()

    def get_job(self, job_id: str) -> JobView:
        """Raises JobNotFound."""
        self._prepare()
        return self.runtime.jobs.get_job(job_id)

    def pause_job(self, job_id: str) -> JobView:
        self._prepare()
        return self.runtime.jobs.pause(job_id, APPLICATION)

    def resume_job(self, job_id: str) -> JobView:
        self._prepare()
        return self.runtime.jobs.resume(job_id, APPLICATION)

    def run_job(self, job_id: str) -> Run:
        """Queue a manual run; raises JobAlreadyRunning beyond max_instances."""
        self._prepare()
        return self.runtime.jobs.run_now(job_id, APPLICATION)


def store_configured(config: LoadedConfig) -> bool:
    """Whether the configuration says where the store is: a store URL, or a data directory."""
    settings = config.settings
    return settings.store.url is not None or "data_dir" in settings.model_fields_set


def _check_keywords(keywords: Mapping[str, Any]) -> None:
    """Raise ValidationFailed for keywords that are neither job options nor trigger keys."""
    problems = []
    for key in keywords:
        if key in APSCHEDULER_ONLY:
            problems.append(Problem(key, f"is not a gnomon job option: {APSCHEDULER_ONLY[key]}"))
        elif key not in _TRIGGER_KEYS:
            problems.append(
                Problem(
                    key,
                    "unknown keyword: neither a job option "
                    f"({', '.join(sorted(JOB_OPTIONS))}) nor a trigger key",
                )
            )
    if problems:
        raise ValidationFailed(problems)


def _whole(low: int, high: int | None = None) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return value >= low and (high is None or value <= high)

    return check


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _timeout(value: object) -> bool:
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    )


def _environment(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _names(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


#: What each job option must be, as the configuration file's [[jobs]] keys are checked.
_OPTION_CHECKS: Mapping[str, tuple[Callable[[object], bool], str]] = {
    "misfire_grace_time": (_whole(1), "must be a whole number of seconds, at least 1"),
    "coalesce": (_is_bool, "must be True or False"),
    "max_instances": (_whole(1, 1000), "must be a whole number from 1 to 1000"),
    "timeout": (_timeout, "must be a number of seconds above 0, or None"),
    "isolation": (lambda v: v in tuple(Isolation), "must be 'thread' or 'process'"),
    "env": (_environment, "must be a dict of strings to strings"),
    "inherit_env": (_is_bool, "must be True or False"),
    "public_kwargs": (_is_bool, "must be True or False"),
    "description": (lambda v: isinstance(v, str), "must be a string"),
    "notify": (lambda v: v is None or _names(v), "must be a list of notification channel ids"),
}
#: The keywords of add_job that are job options; the others belong to the trigger.
JOB_OPTIONS = frozenset(_OPTION_CHECKS)


def _check_options(options: Mapping[str, Any]) -> None:
    """Raise ValidationFailed naming each job option of the wrong type or out of range."""
    problems = [
        Problem(key, f"{_OPTION_CHECKS[key][1]}, not {value!r}")
        for key, value in options.items()
        if not _OPTION_CHECKS[key][0](value)
    ]
    if problems:
        raise ValidationFailed(problems)


def target_of(func: Callable[..., Any]) -> str:
    """The "module:qualname" text of a module-level callable, checked to be importable."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(
            f"{func!r} is not a module-level callable; pass one, or a 'module:function' string"
        )
    return f"{module}:{qualname}"
