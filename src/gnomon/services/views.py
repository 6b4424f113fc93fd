"""What the services hand to the API and the CLI: a job with its trigger, activity and last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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


@dataclass(frozen=True)
class JobView:
    """A job as shown to people and programs."""

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
    def state(self) -> JobState:
        if self.record.paused:
            return JobState.PAUSED
        if self.record.next_fire_time is None:
            return JobState.FINISHED
        return JobState.SCHEDULED

    @property
    def editable_fields(self) -> list[str]:
        return ["trigger"] if self.record.editable else []


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did; `changed`: kept jobs whose trigger, pause or declaration changed."""

    deleted: list[str]
    reloaded: list[str]
    added: list[str]
    removed: list[str]
    changed: list[str]
