"""`gnomon config check`: validate the configuration file and list its jobs."""

from __future__ import annotations

import click

from gnomon.cli.options import config_option, config_path, echo_json, handle_errors, json_option
from gnomon.config import load_config
from gnomon.triggers import load_trigger


@click.group("config")
def config_group() -> None:
    """Work with the configuration file."""


@config_group.command("check")
@config_option
@json_option
@handle_errors
def check_config(as_json: bool) -> None:
    """Validate the configuration; exit non-zero with one line per problem."""
    loaded = load_config(config_path())
    jobs = loaded.jobs
    channels = loaded.notifications.channels
    if as_json:
        echo_json(
            {
                "valid": True,
                "path": str(loaded.path) if loaded.path else None,
                "store_url": loaded.store_url,
                "jobs": [j.id for j in jobs],
                "notifications": list(channels),
            }
        )
        return
    click.echo(f"{loaded.path or 'built-in defaults'}: valid")
    click.echo(f"store: {loaded.store_url}")
    for job in jobs:
        click.echo(f"  {job.id:<28} {load_trigger(job.trigger).summary()}")
    for channel in channels.values():  # never their URLs: those may be secrets
        click.echo(f"notifications: {channel.id} ({channel.kind.value})")
