"""`gnomon config check`: validate the configuration file, and that its jobs can run here."""

from __future__ import annotations

import os

import click

from gnomon.cli.options import (
    config_option,
    config_path,
    echo_json,
    handle_errors,
    json_option,
    without_password,
)
from gnomon.config import LoadedConfig, load_config
from gnomon.domain import JobKind, TaskTracking
from gnomon.errors import ValidationFailed
from gnomon.services.preflight import runnable_problems
from gnomon.triggers import load_trigger


@click.group("config")
def config_group() -> None:
    """Work with the configuration file."""


@config_group.command("check")
@click.option(
    "--file-only",
    is_flag=True,
    help="Only validate the file and the environment: neither import the jobs' targets nor "
    "look for their programs (e.g. on another machine than the scheduler's).",
)
@config_option
@json_option
@handle_errors
def check_config(file_only: bool, as_json: bool) -> None:
    """Validate the configuration, then check that each job can start here: its Python target
    imports, its command's program is found (on the PATH the job gets, or at its path) and its
    cwd exists. Exits 2 with one line per problem."""
    loaded = load_config(config_path())
    jobs = loaded.jobs
    if not file_only:
        problems = runnable_problems(loaded, os.environ)
        if problems:
            where = loaded.path or "configuration"
            count = len({p.field.rpartition(".")[0] for p in problems})
            raise ValidationFailed(
                problems, f"{where}: {count} job{'s' if count > 1 else ''} cannot start here"
            )
    channels = loaded.notifications.channels
    if as_json:
        echo_json(
            {
                "valid": True,
                "path": str(loaded.path) if loaded.path else None,
                "store_url": without_password(loaded.store_url),
                "jobs": [j.id for j in jobs],
                "notifications": list(channels),
                "celery_task_outcomes": _task_outcomes(loaded),
                "checked": "file" if file_only else "file, targets and programs",
            }
        )
        return
    click.echo(f"{loaded.path or 'built-in defaults'}: valid")
    if not file_only:
        click.echo("every job's target imports and program is found")
    click.echo(f"store: {without_password(loaded.store_url)}")
    for job in jobs:
        click.echo(f"  {job.id:<28} {load_trigger(job.trigger).summary()}")
    for channel in channels.values():  # never their URLs: those may be secrets
        click.echo(f"notifications: {channel.id} ({channel.kind.value})")
    tracking = _task_outcomes(loaded)
    if tracking == "result_backend":
        where = without_password(loaded.settings.celery.result_backend or "")
        click.echo(f"celery_task outcomes: tracked through the result backend {where}")
    elif tracking == "events":
        click.echo(
            "celery_task outcomes: tracked through the Celery workers' events ([celery] track "
            '= "events"): start the workers with -E; a task whose worker sends no events ends '
            "timed out"
        )
    elif tracking == "not_tracked":
        chosen = loaded.settings.celery.track is TaskTracking.NONE
        why = '[celery] track = "none"' if chosen else "no [celery] result_backend"
        click.echo(
            f"celery_task outcomes: not tracked ({why}): their runs record that the task was "
            "sent, not how it ended"
        )


def _task_outcomes(loaded: LoadedConfig) -> str | None:
    """How celery_task jobs' runs learn their task's outcome: "result_backend", "events",
    "not_tracked", or None when no job is a celery_task."""
    if not any(job.kind is JobKind.CELERY_TASK for job in loaded.jobs):
        return None
    celery = loaded.settings.celery
    tracking = celery.track.resolve(celery.result_backend)
    return "not_tracked" if tracking is TaskTracking.NONE else tracking.value
