"""Value objects and enums shared by every layer: jobs, runs, users, audit entries. No IO here."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from gnomon.ids import new_run_id

#: A trigger in its stored, readable form, e.g. ``{"type": "cron", "timezone": "Asia/Shanghai",
#: "expression": "0 30 2 * * mon-fri *"}``. Built and read by :mod:`gnomon.triggers`.
TriggerSpec = dict[str, Any]


def utcnow() -> datetime:
    """The current instant, aware, in UTC. Code that needs the time takes ``now`` instead."""
    return datetime.now(UTC)


class TriggerType(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    DATE = "date"


class JobKind(StrEnum):
    PYTHON = "python"
    COMMAND = "command"
    #: A task of an existing Celery app, sent by name to its broker (the celery beat role).
    CELERY_TASK = "celery_task"


class Isolation(StrEnum):
    """Where a Python target runs: a worker thread of the scheduler, or a child process of its own
    that timeout and cancel can terminate."""

    THREAD = "thread"
    PROCESS = "process"


class Executor(StrEnum):
    """Where a job's runs execute: in the leader's own worker pool, or on `gnomon worker`
    processes reached through a Celery broker."""

    LOCAL = "local"
    CELERY = "celery"


#: The broker queue a job executed on Celery is sent to unless it names one.
DEFAULT_QUEUE = "gnomon"
#: The queue a `celery_task` job's task is sent to unless it names one: Celery's own default.
CELERY_DEFAULT_QUEUE = "celery"
#: The `reason` of a `celery_task` run gnomon sent but whose outcome it cannot follow (no result
#: backend configured): recorded `succeeded` as far as gnomon's part, the send, goes.
OUTCOME_NOT_TRACKED = "outcome_not_tracked"


class TaskTracking(StrEnum):
    """How `celery_task` runs follow their task's outcome ([celery] track): through the
    Celery app's result backend, through its workers' events (workers started with `-E`), or
    not at all. AUTO: the result backend when one is configured, else not at all (gnomon cannot
    know whether the app's workers send events)."""

    AUTO = "auto"
    RESULT_BACKEND = "result_backend"
    EVENTS = "events"
    NONE = "none"

    def resolve(self, result_backend: str | None) -> TaskTracking:
        """What this setting means given the configured result backend: never AUTO."""
        if self is TaskTracking.AUTO:
            return TaskTracking.RESULT_BACKEND if result_backend else TaskTracking.NONE
        return self


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSED = "missed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_active(self) -> bool:
        """Queued or running: the run counts against ``max_instances``."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def is_final(self) -> bool:
        return not self.is_active


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)

#: The run lifecycle (SPEC §4.6), written once: the statuses a run may move to from each status.
#: A run is inserted `queued` (or, for a fire time it will not run, straight away `missed` or
#: `skipped`; or, claimed when already due, `running`: claim and start in one fenced
#: transaction); a final status never changes. Every status write in the store is a compare-and-set
#: on these edges, so a late or duplicated update can never move a run backwards.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.SKIPPED,
            RunStatus.MISSED,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.TIMED_OUT,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    **{status: frozenset() for status in RunStatus if status.is_final},
}


def allowed_from(status: RunStatus) -> frozenset[RunStatus]:
    """The statuses a run may be in for a move to `status` to be allowed."""
    return _ALLOWED_FROM[status]


_ALLOWED_FROM = {
    target: frozenset(source for source, targets in TRANSITIONS.items() if target in targets)
    for target in RunStatus
}


class TriggerSource(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    #: A new attempt of a run that ended in one of its job's `retry_on` statuses.
    RETRY = "retry"


class MissReason(StrEnum):
    """Why a fire time was not run (``missed``) or refused (``skipped``)."""

    SCHEDULER_DOWN = "scheduler_down"
    OVERLOADED = "overloaded"
    MAX_INSTANCES = "max_instances"
    #: Claimed shortly ahead, but paused, changed or removed before its time came.
    JOB_CHANGED = "job_changed"
    #: Claimed by a leader that lost the lease before starting it; its successor adopted it
    #: too late to run it within the misfire grace.
    LEADER_LOST = "leader_lost"
    #: Due on Celery, but the broker could not be reached within the misfire grace.
    BROKER_UNAVAILABLE = "broker_unavailable"
    #: Queued (claimed ahead, or sent to a worker's queue and not started yet) when its job
    #: was paused: closed by the pausing write itself (see Store.write_jobs).
    PAUSED = "paused"


class Event(StrEnum):
    """What a notification channel is told about (see gnomon.alerts for when each is raised)."""

    FAILED = "failed"
    TIMED_OUT = "timed_out"
    MISSED = "missed"
    INTERRUPTED = "interrupted"
    RECOVERED = "recovered"
    #: A job without a success for longer than it should be (see Store.raise_overdue).
    OVERDUE = "overdue"
    #: Sent by `gnomon notify test`, never stored.
    TEST = "test"


@dataclass(frozen=True)
class Route:
    """One notification channel of a job, with the events it is told about."""

    channel: str
    events: frozenset[Event]

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "on": sorted(event.value for event in self.events)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Route:
        return cls(data["channel"], frozenset(Event(name) for name in data["on"]))


@dataclass(frozen=True)
class Alerting:
    """Where the outcome of a run of `job_id` is announced: handed to the store with the run's
    final status, which records the events it raises in the same transaction."""

    job_id: str
    routes: tuple[Route, ...]
    #: Whether the job is watched for successes (alert_if_no_success_within): a success then
    #: looks for an `overdue` told since the previous one, to tell `recovered`.
    watched: bool = False


class Role(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset({"view", "admin"}) if self is Role.ADMIN else frozenset({"view"})


#: Up to this share of a retry's backoff is added at random.
RETRY_JITTER = 0.1
#: The outcomes retried unless a job's `retry_on` says otherwise, and those it may name.
DEFAULT_RETRY_ON = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT})
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED})


@dataclass(frozen=True)
class RetryPolicy:
    """How a job's failed runs are tried again: up to `retries` more attempts, the first
    `backoff` seconds after the failure, doubling per attempt up to `backoff_max`."""

    retries: int = 0
    backoff: float = 30.0
    backoff_max: float = 3600.0
    on: frozenset[RunStatus] = DEFAULT_RETRY_ON

    def delay(self, attempt: int) -> float:
        """Seconds from the end of attempt `attempt` (1 for a fire's first run) to the next,
        before jitter."""
        return float(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))

    def next_attempt(self, run: Run, status: RunStatus, now: datetime) -> Run | None:
        """The retry of `run`, which has just ended with `status` at `now`: queued, with no
        node, waiting out its backoff plus up to RETRY_JITTER of it at random (so that jobs
        failing together do not all come back at once). None when `status` is not retried or
        the attempts are used up."""
        if status not in self.on or run.attempt > self.retries:
            return None
        delay = self.delay(run.attempt)
        delay += random.uniform(0, delay * RETRY_JITTER)  # noqa: S311 - spread, not secrecy
        return Run(
            id=new_run_id(),
            job_id=run.job_id,
            trigger_source=TriggerSource.RETRY,
            status=RunStatus.QUEUED,
            queued_at=now,
            attempt=run.attempt + 1,
            retry_of=run.id,
            not_before=now + timedelta(seconds=delay),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "backoff": self.backoff,
            "backoff_max": self.backoff_max,
            "on": sorted(status.value for status in self.on),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RetryPolicy:
        if not data:
            return cls()
        return cls(
            retries=int(data.get("retries", 0)),
            backoff=float(data.get("backoff", 30.0)),
            backoff_max=float(data.get("backoff_max", 3600.0)),
            on=(
                DEFAULT_RETRY_ON
                if data.get("on") is None
                else frozenset(RunStatus(s) for s in data["on"])
            ),
        )


@dataclass(frozen=True)
class JobDefinition:
    """What a job is and how it runs, as declared (config file, shipped job, or the Python API)."""

    id: str
    name: str
    trigger: TriggerSpec
    kind: JobKind
    target: str | None = None  # "package.module:function" for python jobs
    command: tuple[str, ...] | None = None  # argv for command jobs
    shell: bool = False
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Whether viewers may see the kwargs' (and args') values; otherwise only admins do (viewers
    # see the kwargs' keys and how many args there are).
    public_kwargs: bool = False
    env: dict[str, str] = field(default_factory=dict)
    # Whether a command (or a process-isolated target) starts with the scheduler's whole
    # environment, less gnomon's own GNOMON_* variables, rather than a few harmless ones.
    inherit_env: bool = False
    cwd: str | None = None
    misfire_grace_time: int = 300
    coalesce: bool = True
    max_instances: int = 1
    timeout: float | None = None
    isolation: Isolation = Isolation.THREAD  # python jobs only: a command has its own process
    locked: bool = False
    is_builtin: bool = True
    #: The notification channels told about its runs' outcomes.
    notify: tuple[Route, ...] = ()
    #: Whether and how its failed runs are tried again.
    retry: RetryPolicy = RetryPolicy()
    #: Seconds without a success after which its channels hear `overdue` (None: never).
    overdue_after: float | None = None
    #: Positional arguments of a python job's target (JSON data, as kwargs), before the kwargs.
    args: tuple[Any, ...] = ()
    #: Where its runs execute, and (on Celery) the broker queue they are sent to.
    executor: Executor = Executor.LOCAL
    queue: str = DEFAULT_QUEUE
    #: A celery_task job's task name ("proj.tasks.report"), sent by name to the broker.
    task: str | None = None
    #: A celery_task job's message options: serializer, exchange, routing_key (those given).
    task_options: dict[str, str] = field(default_factory=dict)

    @property
    def alerting(self) -> Alerting | None:
        """What a final RunUpdate of this job carries; None when no channel listens."""
        if not self.notify:
            return None
        return Alerting(self.id, self.notify, watched=self.overdue_after is not None)

    @property
    def func_text(self) -> str:
        """The target or the command line, as shown to people."""
        if self.kind is JobKind.PYTHON:
            return self.target or ""
        if self.kind is JobKind.CELERY_TASK:
            return self.task or ""
        return " ".join(self.command or ())

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind.value
        data["command"] = list(self.command) if self.command is not None else None
        data["isolation"] = Isolation(self.isolation).value
        data["notify"] = [route.to_json() for route in self.notify]
        data["retry"] = self.retry.to_json()
        data["args"] = list(self.args)
        data["executor"] = Executor(self.executor).value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobDefinition:
        """The definition ``to_json`` wrote; keys added since (``isolation``, ``notify``,
        ``retry``, ``args``, ``executor``, ``queue``, ``task``, ``task_options``) take their
        default."""
        data = dict(data)
        data["args"] = tuple(data.get("args") or ())
        data["notify"] = tuple(Route.from_json(route) for route in data.get("notify") or ())
        data["retry"] = RetryPolicy.from_json(data.get("retry"))
        data["kind"] = JobKind(data["kind"])
        data["isolation"] = Isolation(data.get("isolation", Isolation.THREAD))
        data["executor"] = Executor(data.get("executor", Executor.LOCAL))
        if data.get("command") is not None:
            data["command"] = tuple(data["command"])
        return cls(**data)


@dataclass(frozen=True)
class JobRecord:
    """A job as the store holds it: its definition plus the state the scheduler keeps."""

    definition: JobDefinition
    trigger: TriggerSpec  # the trigger in force: declared, or overridden through the API
    paused: bool = False
    next_fire_time: datetime | None = None  # UTC; None when paused or the trigger has ended
    revision: int = 0  # grows with every write through the services; guards the scheduler's writes
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def overridden(self) -> bool:
        return self.trigger != self.definition.trigger

    @property
    def editable(self) -> bool:
        return self.definition.is_builtin and not self.definition.locked

    def replace(self, **changes: Any) -> JobRecord:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Run:
    """One execution of a job (or one span of fire times that were missed or skipped)."""

    id: str  # UUID text
    job_id: str
    trigger_source: TriggerSource
    status: RunStatus
    queued_at: datetime
    scheduled_for: datetime | None = None  # UTC; None for manual runs
    last_scheduled_for: datetime | None = (
        None  # last fire time a missed span or coalesced run covers
    )
    fire_count: int = 1  # how many fire times this record stands for
    created_by: int | None = None  # user id for manual runs
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    reason: str | None = None  # MissReason for missed/skipped; free text for interrupted
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    output: str | None = None
    exit_code: int | None = None
    node: str | None = None
    manual_job_id: str | None = None  # the worker thread's name for manual runs
    cancel_requested: bool = False
    #: The lease token its node claimed or adopted it under (None: no node has taken it).
    lease_token: int | None = None
    #: 1 for a fire's (or a manual run's) first run; n + 1 for the retry of attempt n.
    attempt: int = 1
    #: For a retry: the id of the attempt it retries.
    retry_of: str | None = None
    #: For a retry: it waits queued until this time (its backoff).
    not_before: datetime | None = None

    def replace(self, **changes: Any) -> Run:
        """A copy with `changes`. The same as dataclasses.replace (Run has no __post_init__ and
        no slots), at a sixth of its cost: the engine copies runs a few times per fire."""
        unknown = changes.keys() - _RUN_FIELDS
        if unknown:
            raise TypeError(f"Run has no field(s) {', '.join(sorted(unknown))}")
        copy = object.__new__(Run)
        fields = copy.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        return copy


_RUN_FIELDS = frozenset(field.name for field in dataclasses.fields(Run))


@dataclass(frozen=True)
class RunUpdate:
    """A change to one run's lifecycle fields, written by the engine (often in batches).

    The store applies it only as an allowed transition: while the run's status is one of
    `expected` (by default every status TRANSITIONS allows a move to `status` from) and, when
    `owner` is given, while the run belongs to that node. Anything else is refused, not applied.
    """

    run_id: str
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    output: str | None = None
    exit_code: int | None = None
    node: str | None = None
    reason: str | None = None
    #: The statuses the run may be in for this update to apply; None: allowed_from(status).
    expected: frozenset[RunStatus] | None = None
    #: The node the run must belong to for this update to apply; None: any.
    owner: str | None = None
    #: For a final status: the job's channels, told in the same transaction (if it applies).
    alerting: Alerting | None = None
    #: The next attempt, queued in the same transaction if this update applies. Its failure is
    #: then not the fire's outcome: it raises no event (only the last attempt's outcome does).
    retry: Run | None = None

    @property
    def from_statuses(self) -> frozenset[RunStatus]:
        """The statuses this update may move a run from."""
        return allowed_from(self.status) if self.expected is None else self.expected


@dataclass(frozen=True)
class RunPage:
    items: list[Run]
    next_cursor: str | None


#: The duration percentiles the run statistics give, as fractions.
PERCENTILES = (0.5, 0.9, 0.99)


def hour_start(instant: datetime) -> datetime:
    """The start of the UTC hour holding `instant`: run statistics are counted by such hours."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class StatusCounts:
    """How many runs of each status (every status present, 0 when none) were queued in the
    hour starting at `start` (or, for totals, since `start`)."""

    start: datetime
    counts: dict[RunStatus, int]


@dataclass(frozen=True)
class DurationPoint:
    """Durations of one job's succeeded runs queued in the hour starting at `start`: how many
    have one, their sum, and their percentiles in ms (PERCENTILES order; continuous,
    interpolated between the two nearest durations as PostgreSQL's percentile_cont does)."""

    start: datetime
    count: int
    total_ms: int
    percentiles: tuple[float, ...]


@dataclass(frozen=True)
class RunStats:
    """Run statistics of a store: `totals` per window start (runs queued since then), `hours`
    (every hour of the range, oldest first), `durations` per job id (the hours with succeeded
    runs only, oldest first)."""

    totals: list[StatusCounts]
    hours: list[StatusCounts]
    durations: dict[str, list[DurationPoint]]


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    password_hash: str
    disabled: bool = False
    created_at: datetime | None = None
    password_changed_at: datetime | None = None
    # Stamped into every session at login; raising it ends all of the user's sessions.
    session_generation: int = 0

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset() if self.disabled else self.role.permissions


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int | None
    at: datetime
    actor: str  # username, "config", "system" or "cli"
    action: str  # e.g. "job.pause", "job.update_trigger", "jobs.reload"
    target: str | None = None  # e.g. the job id
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    client: str | None = None  # client address for HTTP requests
    user_id: int | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Which audit entries to list: every given criterion must hold (None: any)."""

    actor: str | None = None
    actions: tuple[str, ...] = ()  # any of these actions
    target: str | None = None  # e.g. a job id, "user:alice", "token:3"
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Node:
    """A gnomon process that has registered itself with the store."""

    id: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    roles: tuple[str, ...] = ("scheduler",)
    #: A worker's broker queues and how many runs it executes at once (empty/None otherwise).
    queues: tuple[str, ...] = ()
    concurrency: int | None = None


@dataclass(frozen=True)
class Lease:
    """Who holds the scheduler leadership and until when; ``token`` grows with every new holder."""

    name: str
    holder: str
    token: int
    expires_at: datetime
