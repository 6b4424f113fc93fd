"""Jobs and runs as plain JSON-ready dicts: the job object of the API contract (SPEC §5.3),
shared by the HTTP API and the CLI's --json output."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from gnomon.domain import Run
from gnomon.services.views import JobView


def iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO 8601 with an explicit offset, in `tz` when given (else as stored, UTC)."""
    if value is None:
        return None
    return (value.astimezone(tz) if tz else value).isoformat()


def job_document(view: JobView, lang: str = "en", detail: bool = False) -> dict[str, Any]:
    record, definition, trigger = view.record, view.record.definition, view.trigger
    tz = trigger.timezone
    last = view.last_run
    doc: dict[str, Any] = {
        "id": record.id,
        "name": definition.name,
        "description": definition.description,
        "is_builtin": definition.is_builtin,
        "editable_fields": view.editable_fields,
        "kind": definition.kind.value,
        "func": definition.func_text,
        "state": view.state.value,
        "running": view.running,
        "trigger_type": trigger.type.value,
        "trigger_args": trigger.trigger_args(),
        "cron_expression": record.trigger.get("expression") if trigger.type == "cron" else None,
        "timezone": tz.key,
        "trigger": trigger.summary(),
        "trigger_description": trigger.describe(lang),
        "next_run_time": iso(record.next_fire_time, tz),
        "last_run_time": iso(_run_time(last), tz) if last else None,
        "last_run_status": last.status.value if last else None,
        "misfire_grace_time": definition.misfire_grace_time,
        "coalesce": definition.coalesce,
        "max_instances": definition.max_instances,
        "timeout": definition.timeout,
        "args": [],
        "kwargs": definition.kwargs,
        "overridden": record.overridden,
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
    }
    if with_output:
        doc["traceback"] = run.traceback
        doc["output"] = run.output
    return doc
