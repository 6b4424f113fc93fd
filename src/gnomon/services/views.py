"""What the services hand to the API and the CLI: a job with its trigger, activity and last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gnomon.domain import JobRecord, Run
from gnomon.triggers import Trigger


class JobState(StrEnum):
    SCHEDULED = "scheduled"
    PAUSED = "paused"
    FINISHED = "finished"  # the trigger has no future fire time


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: recorded in audit entries and on manual runs."""

    name: str
    user_id: int | None = None
    client: str | None = None


SYSTEM = Actor("system")
CONFIG = Actor("config")


@dataclass(frozen=True, repr=False)
class JobView:
    """A job as shown to people and programs (and what gnomon.Scheduler returns for a job: its
    id, name, func, args, kwargs, trigger, next_run_time and paused)."""

    record: JobRecord
    trigger: Trigger
    declared_trigger: Trigger
    running: int = 0
    last_run: Run | None = None
    next_run_times: list[datetime] = field(default_factory=list)  # detail only
    recent_runs: list[Run] = field(default_factory=list)  # detail only

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.definition.name

    @property
    def func(self) -> str:
        """The Python target ("module:function") or the command line."""
        return self.record.definition.func_text

    @property
    def args(self) -> tuple[Any, ...]:
        return self.record.definition.args

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.record.definition.kwargs

    @property
    def paused(self) -> bool:
        return self.record.paused

    @property
    def next_run_time(self) -> datetime | None:
        """When the job fires next, in its trigger's timezone; None when paused or when its
        trigger has no fire time left."""
        when = self.record.next_fire_time
        return None if when is None else when.astimezone(self.trigger.timezone)

    @property
    def state(self) -> JobState:
        if self.record.paused:
            return JobState.PAUSED
        if self.record.next_fire_time is None:
            return JobState.FINISHED
        return JobState.SCHEDULED

    @property
    def editable_fields(self) -> list[str]:
        return ["trigger"] if self.record.editable else []

    def __repr__(self) -> str:
        when = self.next_run_time
        return (
            f"<Job id={self.id!r} name={self.name!r} func={self.func!r} "
            f"trigger={self.trigger.summary()!r} "
            f"next_run_time={when.isoformat() if when else None!r} paused={self.paused}>"
        )


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did; `changed`: kept jobs whose trigger, pause or declaration changed."""

    deleted: list[str]
    reloaded: list[str]
    added: list[str]
    removed: list[str]
    changed: list[str]
