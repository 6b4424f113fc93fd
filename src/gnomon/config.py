"""Typed settings and job declarations, loaded explicitly from a TOML file and the environment."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gnomon.alerts import Notifications
from gnomon.alerts_config import (
    ChannelDeclaration,
    SmtpSettings,
    channel_problems,
    parse_duration,
    route_problems,
    routes,
)
from gnomon.config_env import referenced_variables, unknown_variables
from gnomon.domain import (
    CELERY_DEFAULT_QUEUE,
    DEFAULT_QUEUE,
    Executor,
    Isolation,
    JobDefinition,
    JobKind,
    RetryPolicy,
    RunStatus,
    TaskTracking,
)
from gnomon.errors import ConfigInvalid, Problem, TriggerInvalid
from gnomon.jsondata import json_problems
from gnomon.references import setting_problems
from gnomon.triggers import cache_trigger, parse_trigger, resolve_timezone
from gnomon.triggers.parse import CONFIG_KEY_NAMES

JOB_ID_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}$")
TARGET_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: A broker queue's name: what RabbitMQ and Redis both take without quoting.
QUEUE_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$")
#: The broker URL schemes gnomon's Celery executor supports (RabbitMQ and Redis).
BROKER_SCHEMES = ("amqp://", "amqps://", "pyamqp://", "redis://", "rediss://")
#: A Celery task's registered name, as celery_task jobs give it ("proj.tasks.report").
TASK_PATTERN = re.compile(r"^[A-Za-z_][\w.:-]{0,254}$")
DEFAULT_CONFIG_NAME = "gnomon.toml"
#: The key signing sessions, generated in the data directory when none is configured.
GENERATED_KEY_FILE = "secret_key"
ENV_PREFIX = "GNOMON_"
#: Triggers' timezone when neither they nor [scheduler] timezone name one.
DEFAULT_TIMEZONE = "Asia/Shanghai"
# Declared triggers are checked without "is it in the past": a one-off date job that already ran
# must not make the file invalid afterwards, and an interval without start_date is anchored at
# the epoch so its phase is the same on every node and after every restart.
DECLARATION_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerSettings(_Section):
    bind: str = "127.0.0.1:8080"
    workers: int = Field(default=1, ge=1, le=64)
    secret_key: str | None = None
    secret_key_file: str | None = None
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    language: Literal["en", "zh"] = "en"
    # Failed logins allowed per username and client address within the window (seconds).
    login_max_failures: int = Field(default=10, ge=1, le=1000)
    login_window: float = Field(default=60.0, ge=1, le=86400)
    # Failed logins allowed per client address within the window, whatever usernames it tries:
    # random usernames cannot make one client cost a password hash per request.
    login_max_client_failures: int = Field(default=30, ge=1, le=100000)
    # Password hashes (logins) checked at once by one server process (each worker); a login
    # arriving when they are all busy is refused at once (503 LOGIN_BUSY, Retry-After), unhashed.
    login_max_concurrent_hashes: int = Field(default=2, ge=1, le=64)
    # A login session ends after this many seconds without a request (12 h), and this many
    # seconds after the login however busy it is (7 days).
    session_idle_timeout: float = Field(default=43200.0, ge=60, le=31 * 86400)
    session_max_lifetime: float = Field(default=604800.0, ge=60, le=366 * 86400)
    # How many reverse proxies stand in front of the server. Their X-Forwarded-For, -Proto and
    # -Host headers then name the client's address, scheme and host (throttling, audit,
    # Secure cookies); with 0 (the default) those headers are ignored, as any client can forge
    # them.
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    # The longest an API token may live, in days (as token expiries are given everywhere):
    # a token created with no expiry or a longer one gets this one. None: no cap.
    token_max_lifetime: int | None = Field(default=None, ge=1, le=3650)
    # The console's address as people reach it (through any proxy), e.g.
    # "https://gnomon.example.com": notifications link to runs with it. None: no links.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be the http:// or https:// address of the console")
        return value.rstrip("/")

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class StoreSettings(_Section):
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value


#: The outcomes `retry_on` may name (domain.RETRYABLE).
RetryOutcome = Literal["failed", "timed_out", "interrupted"]


def _default_retry_on() -> list[RetryOutcome]:
    return ["failed", "timed_out"]


def _backoff_seconds(value: float | str) -> float:
    seconds = parse_duration(value)
    if not 0 <= seconds <= 7 * 86400:
        raise ValueError("must be from 0 seconds to 7 days")
    return seconds


def check_queue(value: str) -> str:
    """A broker queue name as QUEUE_PATTERN allows; raises ValueError saying what is allowed."""
    if not QUEUE_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a valid queue name: use 1-200 of A-Z a-z 0-9 _ . : - "
            "(starting with a letter, digit or _)"
        )
    return value


class CelerySettings(_Section):
    """The broker that runs of jobs executed on Celery are sent through (`gnomon worker`)."""

    broker_url: str | None = None
    # Where the Celery app's workers store task results: celery_task jobs' runs follow their
    # task's outcome there. None: such runs record that their outcome is not tracked.
    result_backend: str | None = None
    # How celery_task jobs' runs follow their task's outcome: "auto" (the result backend when
    # set, else not followed), "result_backend", "events" (the app's workers started with -E)
    # or "none".
    track: TaskTracking = TaskTracking.AUTO

    @field_validator("result_backend")
    @classmethod
    def _check_result_backend(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("rpc"):
            raise ValueError(
                "the rpc:// backend sends results only to the process that sent the task: "
                "give the Celery app's stored backend (e.g. redis://host:6379/1)"
            )
        if "://" not in value:
            raise ValueError("must be a Celery result backend URL, e.g. redis://host:6379/1")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(BROKER_SCHEMES):
            raise ValueError(
                "must be a RabbitMQ (amqp://user:password@host:5672/vhost) or Redis "
                "(redis://host:6379/0) URL"
            )
        return value


class SchedulerSettings(_Section):
    timezone: str = DEFAULT_TIMEZONE
    # Where jobs' runs execute unless a job says otherwise: here, or on Celery workers.
    executor: Literal["local", "celery"] = "local"
    pool_size: int = Field(default=16, ge=1, le=1024)
    misfire_grace_time: int = Field(default=300, ge=1)
    coalesce: bool = True
    max_instances: int = Field(default=1, ge=1, le=1000)
    run_retention_days: int = Field(default=30, ge=1)
    lease_ttl: float = Field(default=10.0, gt=1, le=600)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    shutdown_grace: float = Field(default=30.0, ge=0, le=3600)
    # Directories (relative to the config file) searched for job targets' modules.
    python_path: list[str] = Field(default_factory=list)
    # Where Python targets run unless a job says otherwise: a worker thread, or a child process.
    isolation: Literal["thread", "process"] = "thread"
    # Whether commands and process-isolated targets start with the scheduler's environment (less
    # GNOMON_* variables) unless a job says otherwise; by default they get a few harmless ones.
    inherit_env: bool = False
    # The notification channels ([[notifications]] ids) of every job that names none itself.
    notify: list[str] = Field(default_factory=list)
    # Retries of failed runs, for every job that does not say otherwise (see RetryPolicy).
    retries: int = Field(default=0, ge=0, le=100)
    retry_backoff: float | str = 30.0  # seconds, or a duration ("90s", "30m", "24h", "7d")
    retry_backoff_max: float | str = 3600.0
    retry_on: list[RetryOutcome] = Field(default_factory=_default_retry_on)

    @field_validator("retry_backoff", "retry_backoff_max")
    @classmethod
    def _check_backoff(cls, value: float | str) -> float:
        return _backoff_seconds(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            resolve_timezone(value)
        except TriggerInvalid as exc:
            raise ValueError(exc.problems[0].message) from None
        return value


class LoggingSettings(_Section):
    """How gnomon's processes log: to stderr, as text lines for people or one JSON object per
    line for a log collector (see logs.py)."""

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class CeleryTaskOptions(_Section):
    """A celery_task job's `celery = { … }`: how its task message is sent."""

    serializer: Literal["json", "msgpack", "yaml", "pickle"] | None = None
    exchange: str | None = Field(default=None, min_length=1, max_length=255)
    routing_key: str | None = Field(default=None, min_length=1, max_length=255)


class JobDeclaration(_Section):
    """One `[[jobs]]` table as written in the file."""

    id: str
    name: str | None = None
    description: str = ""
    # What it runs: a Python target, a command, or (kind = "celery_task") a Celery task by
    # name. Optional for the first two: given target or command says which.
    kind: Literal["python", "command", "celery_task"] | None = None
    task: str | None = None
    celery: CeleryTaskOptions | None = None
    target: str | None = None
    command: list[str] | str | None = None
    shell: bool = False
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    public_kwargs: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    inherit_env: bool | None = None
    cwd: str | None = None
    trigger: dict[str, Any] | None = None
    misfire_grace_time: int | None = Field(default=None, ge=1)
    coalesce: bool | None = None
    max_instances: int | None = Field(default=None, ge=1, le=1000)
    timeout: float | None = Field(default=None, gt=0)
    isolation: Literal["thread", "process"] | None = None
    enabled: bool = True
    locked: bool = False
    # Its notification channels, instead of [scheduler] notify ([] for none).
    notify: list[str] | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_backoff: float | str | None = None
    retry_backoff_max: float | str | None = None
    retry_on: list[RetryOutcome] | None = None
    # An `overdue` event when the job has had no success for this long (seconds or "26h").
    alert_if_no_success_within: float | str | None = None
    # Where its runs execute (default: [scheduler] executor) and, on Celery, the queue.
    executor: Literal["local", "celery"] | None = None
    queue: str | None = None

    @field_validator("queue")
    @classmethod
    def _check_queue(cls, value: str | None) -> str | None:
        return None if value is None else check_queue(value)

    @field_validator("retry_backoff", "retry_backoff_max")
    @classmethod
    def _check_backoff(cls, value: float | str | None) -> float | None:
        return None if value is None else _backoff_seconds(value)

    @field_validator("alert_if_no_success_within")
    @classmethod
    def _check_overdue(cls, value: float | str | None) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if not 1 <= seconds <= 366 * 86400:
            raise ValueError("must be at least 1 second and at most 366 days")
        return seconds

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not JOB_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a valid job id: use 1-64 of a-z 0-9 _ . - "
                "(starting with a letter, digit or _)"
            )
        return value

    @field_validator("task")
    @classmethod
    def _check_task(cls, value: str | None) -> str | None:
        if value is not None and not TASK_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a Celery task name: give the name the task is registered "
                "under, e.g. 'proj.tasks.report'"
            )
        return value

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: str | None) -> str | None:
        if value is not None and not TARGET_PATTERN.match(value):
            raise ValueError(f"{value!r} must look like 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _check_command(self) -> JobDeclaration:
        if isinstance(self.command, str) and not self.shell:
            raise ValueError("command: a string needs shell = true; otherwise give a list of args")
        if isinstance(self.command, list) and not self.command:
            raise ValueError("command: must not be empty")
        if self.shell and isinstance(self.command, list) and len(self.command) != 1:
            raise ValueError("command: with shell = true give one string (run by /bin/sh -c)")
        return self


class Settings(_Section):
    data_dir: str = "data"
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    jobs: list[JobDeclaration] = Field(default_factory=list)
    notifications: list[ChannelDeclaration] = Field(default_factory=list)
    smtp: SmtpSettings | None = None

    def store_url(self, base_dir: Path) -> str:
        """The store URL: configured, or SQLite in the data directory."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{self.data_path(base_dir) / 'gnomon.db'}"

    def data_path(self, base_dir: Path) -> Path:
        """The data directory; a relative one is taken from `base_dir`."""
        data_dir = Path(self.data_dir)
        return data_dir if data_dir.is_absolute() else base_dir / data_dir


@dataclass(frozen=True)
class LoadedConfig:
    """Settings together with where they came from, and the job definitions they declare."""

    settings: Settings  # with `jobs` emptied: the declarations live on as `jobs` below
    path: Path | None  # None when no file exists: built-in defaults
    base_dir: Path  # relative paths in the file are resolved against this
    # The enabled job definitions (shipped jobs merged in), sorted by id: built once, while
    # the file is validated, and registered from here at start-up.
    jobs: tuple[JobDefinition, ...]

    @property
    def notifications(self) -> Notifications:
        """The channels declared, the SMTP server and the console's address, for delivery."""
        settings = self.settings
        return Notifications(
            channels={c.id: c.channel() for c in settings.notifications},
            smtp=settings.smtp.server() if settings.smtp is not None else None,
            public_url=settings.server.public_url,
        )

    @property
    def store_url(self) -> str:
        return self.settings.store_url(self.base_dir)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_path(self.base_dir)

    @property
    def python_path(self) -> list[Path]:
        return [self.base_dir / p for p in self.settings.scheduler.python_path]


def find_config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """The config path: --config, else GNOMON_CONFIG, else ./gnomon.toml."""
    if explicit:
        return Path(explicit)
    if env.get("GNOMON_CONFIG"):
        return Path(env["GNOMON_CONFIG"])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read the file (if it exists) and the GNOMON_* environment; raise ConfigInvalid listing
    every problem. An explicitly named file that does not exist is a problem; the default
    ./gnomon.toml missing means built-in defaults."""
    env = dict(os.environ) if env is None else dict(env)
    explicit = path is not None or bool(env.get("GNOMON_CONFIG"))
    config_path = find_config_path(path, env)
    raw: dict[str, Any] = {}
    text = ""
    source = str(config_path)
    if config_path.is_file():
        try:
            text = config_path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigInvalid([Problem("", f"not valid TOML: {exc}")], source) from None
        except OSError as exc:
            raise ConfigInvalid([Problem("", f"cannot read: {exc.strerror}")], source) from None
    elif explicit:
        raise ConfigInvalid([Problem("", "file not found")], source)
    _apply_env(raw, env)
    unknown = unknown_variables(env, setting_variables(), referenced_variables([text]))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = _problems_from_pydantic(exc)
        problems += [p for p in _trigger_problems(raw) if p not in problems]
        raise ConfigInvalid(problems + unknown, source) from None
    found = config_path.resolve() if config_path.is_file() else None
    where = str(found or "configuration")
    problems = channel_problems(settings.notifications, settings.smtp, settings.scheduler.notify)
    problems += executor_problems(settings)
    problems += unknown
    try:
        jobs = declared_jobs(settings, where)
    except ConfigInvalid as exc:
        problems += exc.problems
    if problems:
        raise ConfigInvalid(problems, where)
    # The [[jobs]] tables are not kept: their definitions are, and one copy of every job's data
    # is enough to hold for the life of the process.
    return LoadedConfig(
        settings=settings.model_copy(update={"jobs": []}),
        path=found,
        base_dir=found.parent if found else Path.cwd(),
        jobs=tuple(jobs),
    )


def _trigger_problems(raw: dict[str, Any]) -> list[Problem]:
    """The job triggers' problems, found even when other settings are invalid, so that one
    check reports every problem in the file."""
    jobs = raw.get("jobs")
    if not isinstance(jobs, list):
        return []
    scheduler = SchedulerSettings()
    with contextlib.suppress(ValidationError, TypeError):
        scheduler = SchedulerSettings.model_validate(raw.get("scheduler") or {})
    settings = Settings(scheduler=scheduler)
    problems: list[Problem] = []
    for index, item in enumerate(jobs):
        try:
            declaration = JobDeclaration.model_validate(item)
            # Without the channels and the executor, which may be what failed: they are
            # checked then.
            _to_definition(declaration, settings, f"jobs[{index}]", settings_known=False)
        except (ValidationError, TypeError):
            continue  # already reported by the whole-file validation
        except ConfigInvalid as exc:
            problems.extend(exc.problems)
    return problems


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """GNOMON_<SECTION>_<KEY> overrides [section] key; GNOMON_DATA_DIR overrides data_dir."""
    if env.get("GNOMON_DATA_DIR"):
        raw["data_dir"] = env["GNOMON_DATA_DIR"]
    for variable, (section, key) in _setting_variables().items():
        value = env.get(variable)
        if value is not None:
            table = raw.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = value


def setting_variables() -> list[str]:
    """The GNOMON_<SECTION>_<KEY> variables that override settings."""
    return list(_setting_variables())


@functools.cache
def _setting_variables() -> dict[str, tuple[str, str]]:
    sections: dict[str, type[BaseModel]] = {
        "server": ServerSettings,
        "store": StoreSettings,
        "scheduler": SchedulerSettings,
        "celery": CelerySettings,
        "logging": LoggingSettings,
        "smtp": SmtpSettings,
    }
    return {
        f"{ENV_PREFIX}{section.upper()}_{(field.alias or name).upper()}": (
            section,
            field.alias or name,  # [smtp] from
        )
        for section, model in sections.items()
        for name, field in model.model_fields.items()
    }


def _problems_from_pydantic(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        parts: list[str] = []
        for item in error["loc"]:
            if isinstance(item, int):
                parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            else:
                parts.append(str(item))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(Problem(".".join(parts), message.removeprefix("Value error, ")))
    return problems


# Config files use the short names `type` and `expression` (the long ones are accepted too); the
# trigger language (and the API) call them `trigger_type` and `cron_expression`.
_TRIGGER_KEY_ALIASES = CONFIG_KEY_NAMES
_TRIGGER_KEY_NAMES = {v: k for k, v in _TRIGGER_KEY_ALIASES.items()}


def declared_jobs(settings: Settings, source: str) -> list[JobDefinition]:
    """The enabled job definitions: gnomon's shipped jobs merged with the file's `[[jobs]]`.

    A declaration with a shipped job's id adjusts that job (trigger, enabled, …). Raises
    ConfigInvalid listing every problem, naming `source`.
    """
    from gnomon.jobs import shipped_declarations

    problems: list[Problem] = []
    shipped = {
        d["id"]: JobDeclaration.model_validate(d)
        for d in shipped_declarations(settings.scheduler.run_retention_days)
    }
    seen: set[str] = set()
    declarations: list[tuple[str, JobDeclaration]] = []
    for index, declaration in enumerate(settings.jobs):
        where = f"jobs[{index}]"
        if declaration.id in seen:
            problems.append(Problem(f"{where}.id", f"duplicate job id {declaration.id!r}"))
            continue
        seen.add(declaration.id)
        if declaration.id in shipped:
            base = shipped.pop(declaration.id)
            if declaration.isolation == "process":
                problems.append(Problem(f"{where}.isolation", _SHIPPED_IN_PROCESS))
                continue
            declaration = _merge_shipped(base, declaration)
        declarations.append((where, declaration))
    declarations.extend((f"shipped job {d.id}", d) for d in shipped.values())

    definitions = []
    for where, declaration in declarations:
        try:
            definition = _to_definition(declaration, settings, where)
        except ConfigInvalid as exc:
            problems.extend(exc.problems)
            continue
        if declaration.enabled:
            definitions.append(definition)
    if problems:
        raise ConfigInvalid(problems, source)
    return sorted(definitions, key=lambda d: d.id)


_SHIPPED_IN_PROCESS = (
    "gnomon's shipped jobs use the scheduler's own store connection, which a child process "
    "does not have: remove `isolation` (they run in a thread)"
)


def _merge_shipped(shipped: JobDeclaration, override: JobDeclaration) -> JobDeclaration:
    given = override.model_dump(exclude_unset=True)
    return shipped.model_copy(update=given)


def _to_definition(
    declaration: JobDeclaration, settings: Settings, where: str, *, settings_known: bool = True
) -> JobDefinition:
    """The job's definition; raises ConfigInvalid naming each problem. `settings_known`
    False: `settings` stand in for ones that failed validation, so what depends on them (the
    channels, the executor) is not judged."""
    problems: list[Problem] = []
    channels = settings.notifications
    if declaration.notify is not None and settings_known:
        known = {channel.id for channel in channels}
        problems += route_problems(f"{where}.notify", declaration.notify, known)
    kind = _kind(declaration)
    if kind is JobKind.CELERY_TASK:
        problems += _celery_task_problems(declaration, settings, where, settings_known)
    elif declaration.task is not None or declaration.celery is not None:
        field_name = "task" if declaration.task is not None else "celery"
        problems.append(
            Problem(f"{where}.{field_name}", 'applies to kind = "celery_task" jobs only')
        )
    elif declaration.target is not None and declaration.command is not None:
        problems.append(Problem(f"{where}.target", "give exactly one of 'target' or 'command'"))
    elif declaration.kind is not None and kind.value != declaration.kind:
        needs = "target" if declaration.kind == JobKind.PYTHON.value else "command"
        problems.append(Problem(f"{where}.kind", f'kind = "{declaration.kind}" needs {needs}'))
    elif declaration.target is None and declaration.command is None:
        problems.append(Problem(f"{where}.target", "give exactly one of 'target' or 'command'"))
    elif declaration.command is not None and declaration.isolation is not None:
        problems.append(
            Problem(
                f"{where}.isolation",
                "applies to Python targets only (a command always runs in a process of its "
                "own): remove it",
            )
        )
    elif declaration.command is not None and declaration.args:
        problems.append(
            Problem(f"{where}.args", "applies to Python targets only: put a command's in command")
        )
    if settings_known and kind is not JobKind.CELERY_TASK:
        # (Else they may be defaults standing in for invalid ones.)
        problems += _executor_problems(declaration, settings, where)
    overdue_after = declaration.alert_if_no_success_within
    retention_days = settings.scheduler.run_retention_days
    if overdue_after is not None and float(overdue_after) >= retention_days * 86400:
        # Past the retention, the job's last success may be pruned: it would look overdue.
        problems.append(
            Problem(
                f"{where}.alert_if_no_success_within",
                f"must be shorter than [scheduler] run_retention_days ({retention_days} days), "
                "which keeps the runs it is judged on",
            )
        )
    problems += json_problems(declaration.args, f"{where}.args")
    problems += json_problems(declaration.kwargs, f"{where}.kwargs")
    problems += setting_problems(
        where,
        declaration.env,
        declaration.kwargs,
        declaration.command,
        declaration.shell,
        declaration.args,
    )
    if declaration.trigger is None:
        problems.append(Problem(f"{where}.trigger", "missing: every job needs a trigger"))
        raise ConfigInvalid(problems)
    trigger_input = {_TRIGGER_KEY_ALIASES.get(k, k): v for k, v in declaration.trigger.items()}
    try:
        trigger = parse_trigger(
            trigger_input, default_timezone=settings.scheduler.timezone, now=DECLARATION_EPOCH
        )
    except TriggerInvalid as exc:
        for problem in exc.problems:
            key = _TRIGGER_KEY_NAMES.get(problem.field, problem.field)
            problems.append(Problem(f"{where}.trigger.{key}", problem.message))
        raise ConfigInvalid(problems) from None
    if problems:
        raise ConfigInvalid(problems)
    command: tuple[str, ...] | None = None
    if isinstance(declaration.command, str):
        command = (declaration.command,)
    elif declaration.command is not None:
        command = tuple(declaration.command)
    scheduler = settings.scheduler
    return JobDefinition(
        id=declaration.id,
        name=declaration.name or declaration.id,
        description=declaration.description,
        kind=kind,
        target=declaration.target,
        command=command,
        shell=declaration.shell,
        args=tuple(declaration.args),
        kwargs=dict(declaration.kwargs),
        public_kwargs=declaration.public_kwargs,
        env=dict(declaration.env),
        inherit_env=_pick(declaration.inherit_env, scheduler.inherit_env),
        cwd=declaration.cwd,
        trigger=cache_trigger(trigger),
        misfire_grace_time=_pick(declaration.misfire_grace_time, scheduler.misfire_grace_time),
        coalesce=_pick(declaration.coalesce, scheduler.coalesce),
        max_instances=_pick(declaration.max_instances, scheduler.max_instances),
        timeout=declaration.timeout,
        isolation=_isolation(declaration, scheduler),
        locked=declaration.locked,
        is_builtin=True,
        # Channels named by [scheduler] notify that do not exist are reported once, there.
        notify=routes(_pick(declaration.notify, settings.scheduler.notify), channels),
        retry=RetryPolicy(
            retries=_pick(declaration.retries, scheduler.retries),
            backoff=float(_pick(declaration.retry_backoff, scheduler.retry_backoff)),
            backoff_max=float(_pick(declaration.retry_backoff_max, scheduler.retry_backoff_max)),
            on=_retry_on(declaration, scheduler.retry_on, kind),
        ),
        overdue_after=(
            None
            if declaration.alert_if_no_success_within is None
            else float(declaration.alert_if_no_success_within)
        ),
        # A celery_task job's task is sent by the leader itself: its run is local.
        executor=(
            Executor.LOCAL
            if kind is JobKind.CELERY_TASK
            else Executor(_pick(declaration.executor, scheduler.executor))
        ),
        queue=declaration.queue
        or (CELERY_DEFAULT_QUEUE if kind is JobKind.CELERY_TASK else DEFAULT_QUEUE),
        task=declaration.task,
        task_options=(
            {} if declaration.celery is None else declaration.celery.model_dump(exclude_none=True)
        ),
    )


def _retry_on(
    declaration: JobDeclaration, default: list[RetryOutcome], kind: JobKind
) -> frozenset[RunStatus]:
    """The outcomes the job is retried on. A celery_task job only on `failed` (Celery said the
    task failed): one timed out or interrupted may still run, and a retry would send it again."""
    on = frozenset(RunStatus(s) for s in _pick(declaration.retry_on, default))
    return on & {RunStatus.FAILED} if kind is JobKind.CELERY_TASK else on


def _kind(declaration: JobDeclaration) -> JobKind:
    if declaration.kind == JobKind.CELERY_TASK.value:
        return JobKind.CELERY_TASK
    return JobKind.PYTHON if declaration.target else JobKind.COMMAND


#: What a celery_task job's task is not: the settings of a target or command gnomon runs.
_NOT_FOR_CELERY_TASKS = ("target", "command", "isolation", "shell", "env", "inherit_env", "cwd")

NEEDS_APP_BROKER = (
    'kind "celery_task" sends the task to the Celery app\'s broker: set [celery] broker_url '
    "(amqp://… or redis://…)"
)


def _celery_task_problems(
    declaration: JobDeclaration, settings: Settings, where: str, settings_known: bool
) -> list[Problem]:
    """A celery_task job without its task, with settings of what gnomon itself runs, or with
    no broker to send the task to."""
    problems: list[Problem] = []
    if declaration.task is None:
        problems.append(
            Problem(
                f"{where}.task",
                'missing: a celery_task job names its task, e.g. task = "proj.tasks.report"',
            )
        )
    given = declaration.model_fields_set
    for name in _NOT_FOR_CELERY_TASKS:
        value = getattr(declaration, name)
        if name in given and value not in (None, False, {}):
            problems.append(
                Problem(
                    f"{where}.{name}",
                    'does not apply to kind = "celery_task" (the task runs on the Celery '
                    "app's workers): remove it",
                )
            )
    if declaration.executor is not None:
        problems.append(
            Problem(
                f"{where}.executor",
                'does not apply to kind = "celery_task": the leader sends the task itself; '
                "give its queue with queue",
            )
        )
    if settings_known and settings.celery.broker_url is None:
        problems.append(Problem(f"{where}.kind", NEEDS_APP_BROKER))
    others = sorted(set(declaration.retry_on or ()) - {RunStatus.FAILED.value})
    if others:
        problems.append(
            Problem(
                f"{where}.retry_on",
                f"a celery_task job is retried on failed only, not on {', '.join(others)}: a "
                "task that timed out or was interrupted may still run, and a retry would send "
                "it again",
            )
        )
    return problems


def _executor_problems(
    declaration: JobDeclaration, settings: Settings, where: str
) -> list[Problem]:
    """A queue on a local job, or a job sent to Celery with no broker. A missing broker for
    the [scheduler] default is reported once, by executor_problems."""
    executor = _pick(declaration.executor, settings.scheduler.executor)
    if executor == Executor.LOCAL.value and declaration.queue is not None:
        return [Problem(f"{where}.queue", 'applies to executor = "celery" only: remove it')]
    if declaration.executor == Executor.CELERY.value and settings.celery.broker_url is None:
        return [Problem(f"{where}.executor", NEEDS_BROKER)]
    return []


NEEDS_BROKER = 'executor "celery" needs a broker: set [celery] broker_url (amqp://… or redis://…)'


def executor_problems(settings: Settings) -> list[Problem]:
    """[scheduler] executor = "celery" without a broker to send runs through; [celery] track
    naming a result backend that is not set."""
    problems = []
    if settings.scheduler.executor == Executor.CELERY.value and settings.celery.broker_url is None:
        problems.append(Problem("scheduler.executor", NEEDS_BROKER))
    celery = settings.celery
    if celery.track is TaskTracking.RESULT_BACKEND and celery.result_backend is None:
        problems.append(
            Problem(
                "celery.track",
                'track = "result_backend" needs [celery] result_backend: set it to the Celery '
                'app\'s result backend URL, or use track = "events" (workers started with -E)',
            )
        )
    return problems


def _isolation(declaration: JobDeclaration, scheduler: SchedulerSettings) -> Isolation:
    if declaration.command is not None or declaration.kind == JobKind.CELERY_TASK.value:
        return Isolation.THREAD  # the field's default: the [scheduler] setting is not for commands
    return Isolation(_pick(declaration.isolation, scheduler.isolation))


_T = TypeVar("_T")


def _pick(value: _T | None, default: _T) -> _T:
    return default if value is None else value
