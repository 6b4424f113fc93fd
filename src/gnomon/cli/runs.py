"""`gnomon runs list|show|cancel`."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from gnomon.cli.options import (
    CLI_ACTOR,
    config_option,
    echo_json,
    echo_table,
    handle_errors,
    json_option,
    open_runtime,
)
from gnomon.domain import Run, RunStatus, TriggerSource, utcnow
from gnomon.services.documents import run_document


@click.group("runs")
def runs_group() -> None:
    """Inspect run records."""


@runs_group.command("list")
@click.option("--job", "job_id", help="Only this job's runs.")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]))
@click.option("--source", type=click.Choice([s.value for s in TriggerSource]))
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@config_option
@json_option
@handle_errors
def list_runs(
    job_id: str | None,
    status: str | None,
    source: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    page = open_runtime().runs.list_runs(
        job_id=job_id,
        status=RunStatus(status) if status else None,
        trigger_source=TriggerSource(source) if source else None,
        limit=limit,
        cursor=cursor,
    )
    items = [run_document(r) for r in page.items]
    if as_json:
        echo_json({"items": items, "next_cursor": page.next_cursor})
        return
    now = utcnow()
    echo_table(
        ["id", "job", "status", "source", "scheduled for", "queued", "started", "duration"],
        [
            [
                run.id,
                run.job_id,
                run.status.value + (f" x{run.fire_count}" if run.fire_count > 1 else ""),
                run.trigger_source.value + (f" #{run.attempt}" if run.attempt > 1 else ""),
                _when(run.scheduled_for),
                _when(run.queued_at),
                _when(run.started_at),
                _duration(run, now),
            ]
            for run in page.items
        ],
    )
    click.echo("(times in UTC)" if page.items else "no runs")
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


def _when(value: datetime | None) -> str:
    """A time for the table: to the second, in UTC (the JSON has it exactly)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _duration(run: Run, now: datetime) -> str:
    """How long it ran; a run still running shows how long so far."""
    if run.duration_ms is not None:
        return _span(run.duration_ms / 1000)
    if run.status is RunStatus.RUNNING and run.started_at is not None:
        return _span(max((now - run.started_at).total_seconds(), 0.0)) + " so far"
    return "-"


def _span(seconds: float) -> str:
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


@runs_group.command("show")
@click.argument("run_id")
@config_option
@json_option
@handle_errors
def show_run(run_id: str, as_json: bool) -> None:
    """Show one run with its output. RUN_ID may be the start of its id (4 or more characters)
    when no other run's id starts the same."""
    runs = open_runtime().runs
    doc = run_document(runs.get_run(runs.resolve_run_id(run_id)), with_output=True)
    if as_json:
        echo_json(doc)
        return
    for key, value in doc.items():
        if key not in ("output", "traceback"):
            click.echo(f"{key + ':':<20}{value if value is not None else '-'}")
    if doc["traceback"]:
        click.echo("traceback:\n" + doc["traceback"])
    click.echo("output:\n" + (doc["output"] or "(none)"))


@runs_group.command("cancel")
@click.argument("run_id")
@config_option
@json_option
@handle_errors
def cancel_run(run_id: str, as_json: bool) -> None:
    """Ask a queued or running run to stop, as the API's cancel does. RUN_ID may be the start
    of its id (4 or more characters) when no other run's id starts the same.

    A queued run no scheduler has taken yet is cancelled at once; a running one is stopped by
    the scheduler running it (a command or a process-isolated target is terminated, a target
    in a thread sees run.cancelled). The retry of the run that waits out its backoff is
    cancelled too (also when the run itself has ended). Exits 4 when the run has ended and no
    retry of it waits.
    """
    runs = open_runtime().runs
    run = runs.cancel_run(runs.resolve_run_id(run_id), CLI_ACTOR)
    if as_json:
        echo_json(run_document(run, with_output=True))
    elif run.status is RunStatus.CANCELLED:
        click.echo(f"cancelled run {run.id} ({run.job_id})")
    else:
        click.echo(
            f"cancellation requested for run {run.id} ({run.job_id}, {run.status.value}); "
            f"'gnomon runs show {run.id}' tells when it has stopped"
        )
