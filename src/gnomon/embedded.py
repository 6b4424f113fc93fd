"""gnomon inside an application: `gnomon.Scheduler`, with ad-hoc jobs added from Python."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from gnomon.alerts_config import route_problems, routes
from gnomon.domain import Isolation, JobDefinition, JobKind, Route, Run
from gnomon.errors import Problem, ValidationFailed
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor, JobView
from gnomon.triggers import Trigger, parse_trigger

APPLICATION = Actor("application")


class Scheduler:
    """A gnomon scheduler running in this process, configured like `gnomon scheduler`.

    Jobs declared in the configuration are builtin; jobs added with `add_job` are ad-hoc: listed,
    paused, resumed and run like others, never re-triggered through the HTTP API, and dropped by a
    reload. Nothing starts until `start()`.
    """

    def __init__(
        self, config: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.runtime = Runtime.from_config_file(config, env)

    def start(self) -> None:
        """Migrate the store, register the declared jobs and start firing."""
        self.runtime.prepare_store()
        self.runtime.start_scheduler()

    def shutdown(self, grace: float | None = None) -> None:
        """Stop firing; running runs get `grace` seconds (default: the configured grace)."""
        self.runtime.close(grace)

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
        trigger: Trigger | Mapping[str, Any],
        *,
        id: str,
        name: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
        replace_existing: bool = False,
        **options: Any,
    ) -> JobView:
        """Add an ad-hoc job running `func` (a module-level callable or "module:function").

        `trigger` is a Trigger or a mapping as the API's PUT takes it, e.g.
        ``{"trigger_type": "interval", "seconds": 30}``. `options` are job options:
        misfire_grace_time, coalesce, max_instances, timeout, isolation ("thread" or "process";
        default: the [scheduler] setting), env and inherit_env (for a process-isolated target;
        inherit_env defaults to the [scheduler] setting), public_kwargs (viewers of the API see
        the kwargs' values, not only their keys), description, notify (ids of configured
        notification channels; default: [scheduler] notify).
        Raises TriggerInvalid, ValidationFailed, JobExists.
        """
        settings = self.runtime.config.settings.scheduler
        isolation = options.pop("isolation", settings.isolation)
        if isolation not in tuple(Isolation):
            raise ValidationFailed([Problem("isolation", "must be 'thread' or 'process'")])
        notify = self._routes(options.pop("notify", None))
        if not isinstance(trigger, Trigger):
            trigger = parse_trigger(
                trigger, default_timezone=settings.timezone, now=self.runtime.jobs.now()
            )
        definition = JobDefinition(
            id=id,
            name=name or id,
            trigger=trigger.to_spec(),
            kind=JobKind.PYTHON,
            target=func if isinstance(func, str) else target_of(func),
            kwargs=dict(kwargs or {}),
            misfire_grace_time=options.pop("misfire_grace_time", settings.misfire_grace_time),
            coalesce=options.pop("coalesce", settings.coalesce),
            max_instances=options.pop("max_instances", settings.max_instances),
            isolation=Isolation(isolation),
            inherit_env=options.pop("inherit_env", settings.inherit_env),
            is_builtin=False,
            notify=notify,
            **options,
        )
        return self.runtime.jobs.add_job(definition, APPLICATION, replace_existing)

    def _routes(self, names: Sequence[str] | None) -> tuple[Route, ...]:
        """The routes of the named channels (default: [scheduler] notify); ValidationFailed
        naming a channel the configuration does not declare."""
        settings = self.runtime.config.settings
        if names is None:
            names = settings.scheduler.notify
        known = {channel.id for channel in settings.notifications}
        problems = route_problems("notify", list(names), known)
        if problems:
            raise ValidationFailed(problems)
        return routes(list(names), settings.notifications)

    def remove_job(self, job_id: str) -> None:
        """Raises JobNotFound."""
        self.runtime.jobs.remove_job(job_id, APPLICATION)

    def get_jobs(self) -> list[JobView]:
        return self.runtime.jobs.list_jobs()

    def get_job(self, job_id: str) -> JobView:
        """Raises JobNotFound."""
        return self.runtime.jobs.get_job(job_id)

    def pause_job(self, job_id: str) -> JobView:
        return self.runtime.jobs.pause(job_id, APPLICATION)

    def resume_job(self, job_id: str) -> JobView:
        return self.runtime.jobs.resume(job_id, APPLICATION)

    def run_job(self, job_id: str) -> Run:
        """Queue a manual run; raises JobAlreadyRunning beyond max_instances."""
        return self.runtime.jobs.run_now(job_id, APPLICATION)


def target_of(func: Callable[..., Any]) -> str:
    """The "module:qualname" text of a module-level callable, checked to be importable."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(
            f"{func!r} is not a module-level callable; pass one, or a 'module:function' string"
        )
    return f"{module}:{qualname}"
