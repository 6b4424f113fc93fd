"""`gnomon config check`: validate the configuration file, and that its jobs can run here."""

from __future__ import annotations

import os

import click

from gnomon.cli.options import config_option, config_path, echo_json, handle_errors, json_option
from gnomon.config import load_config
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
                "store_url": loaded.store_url,
                "jobs": [j.id for j in jobs],
                "notifications": list(channels),
                "checked": "file" if file_only else "file, targets and programs",
            }
        )
        return
    click.echo(f"{loaded.path or 'built-in defaults'}: valid")
    if not file_only:
        click.echo("every job's target imports and program is found")
    click.echo(f"store: {loaded.store_url}")
    for job in jobs:
        click.echo(f"  {job.id:<28} {load_trigger(job.trigger).summary()}")
    for channel in channels.values():  # never their URLs: those may be secrets
        click.echo(f"notifications: {channel.id} ({channel.kind.value})")
