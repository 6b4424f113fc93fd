"""`gnomon db upgrade`: create or migrate the store's schema."""

from __future__ import annotations

import click

from gnomon.cli.options import config_option, config_path, handle_errors
from gnomon.services.runtime import Runtime


@click.group("db")
def db_group() -> None:
    """Manage the store's schema."""


@db_group.command("upgrade")
@config_option
@handle_errors
def upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    runtime = Runtime.from_config_file(config_path())
    runtime.prepare_store()
    click.echo(f"store is up to date: {runtime.config.store_url}")
