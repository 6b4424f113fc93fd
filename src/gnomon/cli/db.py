"""`gnomon db upgrade|current|history|backup`: the store's schema, and copies of a SQLite store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gnomon.cli.options import (
    EXIT_FAILURE,
    config_option,
    config_path,
    echo_json,
    echo_table,
    handle_errors,
    json_option,
    without_password,
)
from gnomon.services.runtime import Runtime

CURRENT = "current"  # the store is at the newest revision this gnomon knows
BEHIND = "behind"  # at an older one, or has no schema yet: `gnomon db upgrade` migrates it
UNKNOWN = "unknown"  # at a revision this gnomon does not know: a newer gnomon migrated it


@click.group("db")
def db_group() -> None:
    """Manage the store's schema; back a SQLite store up."""


@db_group.command("upgrade")
@config_option
@handle_errors
def upgrade() -> None:
    """Create or migrate the schema to the newest revision.

    On a store where no job was ever registered, also registers the declared jobs, as the
    first start of a scheduler would.
    """
    runtime = Runtime.from_config_file(config_path())
    try:
        before = runtime.store.schema_revision()
        runtime.prepare_store()
        after = runtime.store.schema_revision()
        registered = runtime.register_declared_once()
    finally:
        runtime.close()
    url = runtime.config.store_url
    if before is None:
        click.echo(f"created the schema at revision {after}: {url}")
    elif before != after:
        click.echo(f"migrated the schema from revision {before} to {after}: {url}")
    else:
        click.echo(f"schema already at the newest revision, {after}: {url}")
    if registered:
        click.echo(f"registered the declared jobs: {', '.join(registered)}")


@db_group.command("current")
@config_option
@json_option
@handle_errors
def current(as_json: bool) -> None:
    """Show the store's schema revision and whether this gnomon's newest is the same.

    Exits 0 when it is, 1 when the store needs `gnomon db upgrade` or was migrated by a newer
    gnomon than this one.
    """
    runtime = Runtime.from_config_file(config_path())
    try:
        revision = runtime.store.schema_revision()
        known = [migration.revision for migration in runtime.store.migrations()]
    finally:
        runtime.close()
    newest = known[-1]
    state = _state(revision, known)
    if as_json:
        echo_json({"revision": revision, "newest": newest, "state": state})
    elif state == CURRENT:
        click.echo(f"{revision}: up to date")
    elif state == BEHIND:
        click.echo(
            f"{revision or 'no schema'}: this gnomon's newest is {newest}; run 'gnomon db upgrade'"
        )
    else:
        click.echo(
            f"{revision}: unknown to this gnomon (its newest is {newest}); a newer gnomon "
            "migrated the store: upgrade this installation"
        )
    if state != CURRENT:
        sys.exit(EXIT_FAILURE)


def _state(revision: str | None, known: list[str]) -> str:
    if revision == known[-1]:
        return CURRENT
    return BEHIND if revision is None or revision in known else UNKNOWN


@db_group.command("history")
@config_option
@json_option
@handle_errors
def history(as_json: bool) -> None:
    """List the schema revisions this gnomon knows, oldest first."""
    runtime = Runtime.from_config_file(config_path())
    try:
        migrations = runtime.store.migrations()
    finally:
        runtime.close()
    if as_json:
        echo_json([{"revision": m.revision, "description": m.description} for m in migrations])
        return
    echo_table(["revision", "description"], [[m.revision, m.description] for m in migrations])


@db_group.command("backup")
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def backup(target: Path) -> None:
    """Copy a SQLite store into the new file TARGET, safely while gnomon runs.

    The copy is a SQLite database, readable only by this user. Restore it by stopping gnomon
    and putting it in the store's place. A PostgreSQL store is backed up with pg_dump.
    """
    runtime = Runtime.from_config_file(config_path())
    try:
        revision = runtime.store.backup(target)
    finally:
        runtime.close()
    click.echo(
        f"backed up {without_password(runtime.config.store_url)} (schema {revision}) to {target}"
    )
