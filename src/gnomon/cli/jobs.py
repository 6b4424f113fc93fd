"""`gnomon jobs list|show|run|pause|resume`."""

from __future__ import annotations

import click

from gnomon.cli.options import (
    config_option,
    echo_json,
    echo_table,
    handle_errors,
    json_option,
    open_runtime,
)
from gnomon.services.documents import job_document
from gnomon.services.views import Actor

CLI_ACTOR = Actor("cli")
#: The CLI reads the configuration file and the store itself, so whoever runs it has what an
#: admin has: job kwargs are shown as declared (secret references unresolved).
REVEAL = True


@click.group("jobs")
def jobs_group() -> None:
    """Inspect and steer jobs."""


@jobs_group.command("list")
@config_option
@json_option
@handle_errors
def list_jobs(as_json: bool) -> None:
    """List every job."""
    runtime = open_runtime()
    documents = [job_document(v, reveal=REVEAL) for v in runtime.jobs.list_jobs()]
    if as_json:
        echo_json(documents)
        return
    echo_table(
        ["id", "state", "trigger", "next run", "last run"],
        [
            [
                d["id"],
                d["state"] + (f" ({d['running']} running)" if d["running"] else ""),
                d["trigger"],
                d["next_run_time"] or "-",
                f"{d['last_run_status']} at {d['last_run_time']}" if d["last_run_status"] else "-",
            ]
            for d in documents
        ],
    )


@jobs_group.command("show")
@click.argument("job_id")
@config_option
@json_option
@handle_errors
def show_job(job_id: str, as_json: bool) -> None:
    """Show one job, its next fire times and recent runs."""
    runtime = open_runtime()
    doc = job_document(runtime.jobs.get_job(job_id), detail=True, reveal=REVEAL)
    if as_json:
        echo_json(doc)
        return
    # The API's `func` is shown under the configuration file's name for it: `target` for a
    # Python callable, `command` for a command line.
    what = {"python": "target", "celery_task": "task"}.get(doc["kind"], "command")
    for label, key in (
        ("id", "id"),
        ("name", "name"),
        ("description", "description"),
        ("kind", "kind"),
        (what, "func"),
        ("state", "state"),
        ("trigger", "trigger"),
        ("trigger_description", "trigger_description"),
        ("overridden", "overridden"),
        ("misfire_grace_time", "misfire_grace_time"),
        ("coalesce", "coalesce"),
        ("max_instances", "max_instances"),
        ("timeout", "timeout"),
        ("next_run_time", "next_run_time"),
    ):
        click.echo(f"{label + ':':<21}{doc[key]}")
    click.echo("next fire times:")
    for when in doc["next_run_times"]:
        click.echo(f"  {when}")
    click.echo("recent runs:")
    for run in doc["recent_runs"]:
        click.echo(f"  {run['id']}  {run['status']:<11} {run['scheduled_for'] or run['queued_at']}")


@jobs_group.command("run")
@click.argument("job_id")
@config_option
@json_option
@handle_errors
def run_job(job_id: str, as_json: bool) -> None:
    """Run a job now, in the background of the running scheduler."""
    runtime = open_runtime()
    runtime.jobs.require_scheduler()
    run = runtime.jobs.run_now(job_id, CLI_ACTOR)
    if as_json:
        echo_json({"manual_job_id": run.manual_job_id, "run_id": run.id})
    else:
        click.echo(f"queued run {run.id} ({run.manual_job_id})")


@jobs_group.command("pause")
@click.argument("job_id")
@config_option
@json_option
@handle_errors
def pause_job(job_id: str, as_json: bool) -> None:
    """Pause a job (it stays paused across restarts)."""
    view = open_runtime().jobs.pause(job_id, CLI_ACTOR)
    echo_json(job_document(view, reveal=REVEAL)) if as_json else click.echo(
        f"{job_id}: {view.state}"
    )


@jobs_group.command("resume")
@click.argument("job_id")
@config_option
@json_option
@handle_errors
def resume_job(job_id: str, as_json: bool) -> None:
    """Resume a paused job."""
    view = open_runtime().jobs.resume(job_id, CLI_ACTOR)
    doc = job_document(view, reveal=REVEAL)
    if as_json:
        echo_json(doc)
    else:
        click.echo(f"{job_id}: {view.state}, next run {doc['next_run_time']}")
