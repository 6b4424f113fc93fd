"""Jobs, runs, triggers and previews: the job object of SPEC §5.3 and what surrounds it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gnomon.api.schemas.envelopes import Strict, Text
from gnomon.triggers.cron.expression import MAX_LENGTH
from gnomon.triggers.cron.syntax import MAX_ITEMS

_CronText = Annotated[str, Field(max_length=MAX_LENGTH)]
CronField = _CronText | int | None


class Run(BaseModel):
    id: str
    job_id: str
    trigger_source: Literal["scheduled", "manual", "retry"]
    created_by: int | None
    status: str
    scheduled_for: Text
    last_scheduled_for: Text
    fire_count: int
    queued_at: Text
    started_at: Text
    finished_at: Text
    duration_ms: int | None
    reason: Text
    error_type: Text
    error_message: Text
    exit_code: int | None
    node: Text
    manual_job_id: Text
    cancel_requested: bool
    attempt: int = Field(description="1 for a fire's or manual run's first run; n + 1 retries n.")
    retry_of: Text = Field(description="For a retry: the id of the run it retries.")
    not_before: Text = Field(description="For a retry: it waits queued until this time.")
    traceback: Text = Field(default=None, description="One run only.")
    output: Text = Field(default=None, description="One run only.")


class DeclaredTrigger(BaseModel):
    trigger_type: Literal["cron", "interval", "date"]
    trigger_args: dict[str, Any]
    timezone: str
    trigger: str


# pydantic's mypy plugin names __init__ parameters after aliases, and "kwargs" clashes.
class Job(BaseModel):  # type: ignore[no-redef]
    """The job object (SPEC §5.3); the detail adds declared_trigger, next_run_times and
    recent_runs."""

    id: str
    name: str
    description: str
    is_builtin: bool
    editable_fields: list[str]
    kind: Literal["python", "command", "celery_task"] = Field(
        description="What it runs: a Python target, a command, or a Celery task sent by name "
        "(`func` is then the task's name)."
    )
    func: str
    state: Literal["scheduled", "paused", "finished"]
    running: int
    trigger_type: Literal["cron", "interval", "date"]
    trigger_args: dict[str, Any]
    cron_expression: Text
    timezone: str
    trigger: str
    trigger_description: str
    next_run_time: Text
    last_run_time: Text
    last_run_status: Text
    misfire_grace_time: int | None
    coalesce: bool
    max_instances: int
    timeout: float | None
    retries: int
    retry_backoff: float
    retry_backoff_max: float
    retry_on: list[Literal["failed", "timed_out", "interrupted"]]
    alert_if_no_success_within: float | None = Field(
        description="Seconds without a success before `overdue` is told; null: never."
    )
    executor: Literal["local", "celery"] = Field(
        description='Where its runs execute: "local" (the scheduler) or "celery" (workers).'
    )
    queue: str | None = Field(
        description="The broker queue of a job executed on Celery, or of a celery_task job's task."
    )
    args: list[Any] = Field(
        description="A Python target's positional arguments: as declared for admins; for "
        'viewers each is "***" unless the job declares public_kwargs = true.',
    )
    kwargs_: dict[str, Any] = Field(
        alias="kwargs",
        description="As declared for admins (secret references unresolved); for viewers each "
        'value is "***" unless the job declares public_kwargs = true.',
    )
    overridden: bool
    declared_trigger: DeclaredTrigger | None = None
    next_run_times: list[str] = Field(default_factory=list)
    recent_runs: list[Run] = Field(default_factory=list)


class TriggerInput(Strict):
    """PUT body: `trigger_type` and that type's keys; unknown keys are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"trigger_type": "cron", "cron_expression": "0 30 2 * * mon-fri"},
                {"trigger_type": "cron", "cron_hour": 3, "timezone": "Europe/London"},
                {"trigger_type": "interval", "hours": 6, "start_date": "2026-01-01T00:00:00Z"},
                {"trigger_type": "date", "run_date": "2099-01-01T09:00:00+08:00"},
            ]
        },
    )

    trigger_type: Literal["cron", "interval", "date"]
    timezone: Text = Field(default=None, description="IANA name; omitted: the job keeps its own.")
    cron_expression: _CronText | None = Field(
        default=None, description=f"At most {MAX_LENGTH} characters, {MAX_ITEMS} items a field."
    )
    cron_second: CronField = None
    cron_minute: CronField = None
    cron_hour: CronField = None
    cron_day: CronField = None
    cron_month: CronField = None
    cron_weekday: CronField = None
    year: CronField = None
    weeks: int | None = None
    days: int | None = None
    hours: int | None = None
    minutes: int | None = None
    seconds: int | None = None
    start_date: Text = None
    jitter: int | None = None
    run_date: Text = None


class PreviewInput(TriggerInput):
    count: int | None = Field(default=None, ge=1, le=100)


class ManualRun(BaseModel):
    manual_job_id: str
    run_id: str


class Reload(BaseModel):
    deleted: list[str]
    reloaded: list[str]
    deleted_count: int
    reloaded_count: int
    added: list[str]
    removed: list[str]
    changed: list[str]


class RunPage(BaseModel):
    items: list[Run]
    next_cursor: Text


class Preview(BaseModel):
    next_run_times: list[str]
    description: str
    trigger: str
    timezone: str


class RunQuery(Strict):
    status: (
        Literal[
            "queued",
            "running",
            "succeeded",
            "failed",
            "missed",
            "skipped",
            "interrupted",
            "cancelled",
            "timed_out",
        ]
        | None
    ) = None
    trigger_source: Literal["scheduled", "manual"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Text = Field(default=None, max_length=512)


_STATUS = "queued|running|succeeded|failed|missed|skipped|interrupted|cancelled|timed_out"
#: One status, or several separated by commas.
StatusList = Annotated[str, Field(pattern=f"^({_STATUS})(,({_STATUS}))*$")]
#: RFC 3339, offset required (`format: date-time`).
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class AllRunsQuery(Strict):
    job_id: Text = Field(
        default=None, max_length=64, description="Runs of this job (also of a removed one)."
    )
    status: list[StatusList] | None = Field(
        default=None,
        description="Runs with any of these statuses: repeat the parameter "
        "(`status=failed&status=missed`), separate them by commas (`status=failed,missed`), "
        "or both.",
    )
    trigger_source: Literal["scheduled", "manual"] | None = None
    node: Text = Field(default=None, max_length=255, description="Runs executed by this node.")
    since: Instant | None = Field(
        default=None,
        description="Runs queued at or after this time (RFC 3339, with its offset). A run is "
        "queued when its fire time is claimed (at most a second ahead of it) or, for a manual "
        "run, when it is asked for; missed and skipped runs when they are recorded.",
    )
    until: Instant | None = Field(
        default=None, description="Runs queued before this time (RFC 3339, with its offset)."
    )
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Text = Field(default=None, max_length=512)


class CountQuery(Strict):
    count: int = Field(default=5, ge=1, le=100)
