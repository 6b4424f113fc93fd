"""Jobs and runs as plain JSON-ready dicts: the job object of the API contract (SPEC §5.3),
shared by the HTTP API and the CLI's --json output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from gnomon.domain import Executor, JobDefinition, JobKind, RetryPolicy, Run
from gnomon.services.views import JobView

#: What a viewer sees instead of each value of a job's kwargs, unless the job declares
#: `public_kwargs = true`: one fixed marker, which says nothing of a value's type or length.
REDACTED = "***"


def iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO 8601 with an explicit offset, in `tz` when given (else as stored, UTC)."""
    if value is None:
        return None
    return (value.astimezone(tz) if tz else value).isoformat()


def job_document(
    view: JobView, lang: str = "en", detail: bool = False, *, reveal: bool
) -> dict[str, Any]:
    """The job object of SPEC §5.3; `detail` adds the declared trigger, next fire times and
    recent runs. `reveal`: the args' and kwargs' values as declared (for admins; secret
    references stay unresolved); otherwise each value is REDACTED unless the job's kwargs are
    public."""
    return _job_document(_JobParts.of(view, lang), view, detail, reveal)


def viewer_args(definition: JobDefinition) -> list[Any]:
    """The job's args as a viewer sees them: as many REDACTED markers, unless the job declares
    its arguments public (public_kwargs)."""
    if definition.public_kwargs:
        return list(definition.args)
    return [REDACTED] * len(definition.args)


def viewer_kwargs(definition: JobDefinition) -> dict[str, Any]:
    """The job's kwargs as a viewer sees them: the keys, with their values REDACTED unless the
    job declares them public."""
    if definition.public_kwargs:
        return definition.kwargs
    return dict.fromkeys(definition.kwargs, REDACTED)


class JobDocuments:
    """job_document for one store, keeping per job and language the parts that only change
    with a new revision (definition and trigger texts): listing 1,000 jobs then formats just
    each job's state, next fire time and last run.

    Keys are (job id, language), so the cache holds at most jobs × languages entries; an entry
    counts only for the revision and write time it was built from. Returned documents share
    nested values (trigger_args, kwargs, editable_fields) between calls: treat them as
    read-only.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._parts: dict[tuple[str, str], _JobParts] = {}
        self._max_entries = max_entries

    def document(
        self, view: JobView, lang: str = "en", detail: bool = False, *, reveal: bool
    ) -> dict[str, Any]:
        """What job_document(view, lang, detail, reveal=reveal) returns."""
        record = view.record
        if record.revision <= 0 or record.updated_at is None:  # never stored: nothing to key on
            return job_document(view, lang, detail, reveal=reveal)
        key = (record.id, lang)
        parts = self._parts.get(key)
        if (
            parts is None
            or parts.revision != record.revision
            or parts.updated_at != record.updated_at
        ):
            parts = _JobParts.of(view, lang)
            if len(self._parts) >= self._max_entries:
                self._parts.clear()  # jobs deleted long ago; the live ones come back at once
            self._parts[key] = parts
        return _job_document(parts, view, detail, reveal)


@dataclass(frozen=True)
class _JobParts:
    """The fields of a job's document that follow from its stored definition and trigger."""

    revision: int
    updated_at: datetime | None
    tz: tzinfo
    name: str
    description: str
    is_builtin: bool
    editable_fields: list[str]
    kind: str
    func: str
    trigger_type: str
    trigger_args: dict[str, Any]
    cron_expression: Any
    timezone: str
    trigger: str
    trigger_description: str
    misfire_grace_time: int
    coalesce: bool
    max_instances: int
    timeout: float | None
    retry: dict[str, Any]
    overdue_after: float | None
    executor: str
    queue: str | None
    args: list[Any]
    viewer_args: list[Any]
    kwargs: dict[str, Any]
    viewer_kwargs: dict[str, Any]
    overridden: bool

    @classmethod
    def of(cls, view: JobView, lang: str) -> _JobParts:
        record, definition, trigger = view.record, view.record.definition, view.trigger
        return cls(
            revision=record.revision,
            updated_at=record.updated_at,
            tz=trigger.timezone,
            name=definition.name,
            description=definition.description,
            is_builtin=definition.is_builtin,
            editable_fields=view.editable_fields,
            kind=definition.kind.value,
            func=definition.func_text,
            trigger_type=trigger.type.value,
            trigger_args=trigger.trigger_args(),
            cron_expression=record.trigger.get("expression") if trigger.type == "cron" else None,
            timezone=trigger.timezone.key,
            trigger=trigger.summary(),
            trigger_description=trigger.describe(lang),
            misfire_grace_time=definition.misfire_grace_time,
            coalesce=definition.coalesce,
            max_instances=definition.max_instances,
            timeout=definition.timeout,
            retry=_retry_document(definition.retry),
            overdue_after=definition.overdue_after,
            executor=definition.executor.value,
            queue=(
                definition.queue
                if definition.executor is Executor.CELERY or definition.kind is JobKind.CELERY_TASK
                else None
            ),
            args=list(definition.args),
            viewer_args=viewer_args(definition),
            kwargs=definition.kwargs,
            viewer_kwargs=viewer_kwargs(definition),
            overridden=record.overridden,
        )


def _job_document(parts: _JobParts, view: JobView, detail: bool, reveal: bool) -> dict[str, Any]:
    record, tz, last = view.record, parts.tz, view.last_run
    doc: dict[str, Any] = {
        "id": record.id,
        "name": parts.name,
        "description": parts.description,
        "is_builtin": parts.is_builtin,
        "editable_fields": parts.editable_fields,
        "kind": parts.kind,
        "func": parts.func,
        "state": view.state.value,
        "running": view.running,
        "trigger_type": parts.trigger_type,
        "trigger_args": parts.trigger_args,
        "cron_expression": parts.cron_expression,
        "timezone": parts.timezone,
        "trigger": parts.trigger,
        "trigger_description": parts.trigger_description,
        "next_run_time": iso(record.next_fire_time, tz),
        "last_run_time": iso(_run_time(last), tz) if last else None,
        "last_run_status": last.status.value if last else None,
        "misfire_grace_time": parts.misfire_grace_time,
        "coalesce": parts.coalesce,
        "max_instances": parts.max_instances,
        "timeout": parts.timeout,
        "retries": parts.retry["retries"],
        "retry_backoff": parts.retry["retry_backoff"],
        "retry_backoff_max": parts.retry["retry_backoff_max"],
        "retry_on": parts.retry["retry_on"],
        "alert_if_no_success_within": parts.overdue_after,
        "executor": parts.executor,
        "queue": parts.queue,
        "args": parts.args if reveal else parts.viewer_args,
        "kwargs": parts.kwargs if reveal else parts.viewer_kwargs,
        "overridden": parts.overridden,
    }
    if detail:
        doc["declared_trigger"] = {
            "trigger_type": view.declared_trigger.type.value,
            "trigger_args": view.declared_trigger.trigger_args(),
            "timezone": view.declared_trigger.timezone.key,
            "trigger": view.declared_trigger.summary(),
        }
        doc["next_run_times"] = [iso(t, tz) for t in view.next_run_times]
        doc["recent_runs"] = [run_document(r, tz) for r in view.recent_runs]
    return doc


def _retry_document(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "retries": policy.retries,
        "retry_backoff": policy.backoff,
        "retry_backoff_max": policy.backoff_max,
        "retry_on": sorted(status.value for status in policy.on),
    }


def _run_time(run: Run) -> datetime:
    return run.started_at or run.scheduled_for or run.queued_at


def run_document(run: Run, tz: tzinfo | None = None, with_output: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": run.id,
        "job_id": run.job_id,
        "trigger_source": run.trigger_source.value,
        "created_by": run.created_by,
        "status": run.status.value,
        "scheduled_for": iso(run.scheduled_for, tz),
        "last_scheduled_for": iso(run.last_scheduled_for, tz),
        "fire_count": run.fire_count,
        "queued_at": iso(run.queued_at, tz),
        "started_at": iso(run.started_at, tz),
        "finished_at": iso(run.finished_at, tz),
        "duration_ms": run.duration_ms,
        "reason": run.reason,
        "error_type": run.error_type,
        "error_message": run.error_message,
        "exit_code": run.exit_code,
        "node": run.node,
        "manual_job_id": run.manual_job_id,
        "cancel_requested": run.cancel_requested,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "not_before": iso(run.not_before, tz),
    }
    if with_output:
        doc["traceback"] = run.traceback
        doc["output"] = run.output
    return doc
