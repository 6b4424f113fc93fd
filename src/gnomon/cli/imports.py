"""`gnomon import celery-beat MODULE:APP`: a Celery app's beat_schedule as gnomon jobs."""

from __future__ import annotations

from pathlib import Path

import click

from gnomon.cli.options import handle_errors
from gnomon.services.celery_beat import convert_beat_schedule, load_app


@click.group("import")
def import_group() -> None:
    """Bring schedules over from other schedulers."""


@import_group.command("celery-beat")
@click.argument("app_spec", metavar="MODULE:APP")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the TOML to this file (refused if it exists) instead of printing it.",
)
@handle_errors
def import_celery_beat(app_spec: str, output: Path | None) -> None:
    """Convert the beat_schedule of the Celery app MODULE:APP (imported from the current
    directory, as the celery command does) into `kind = "celery_task"` jobs, as [[jobs]]
    tables to add to gnomon.toml. Entries that cannot be converted (solar schedules, …) are
    listed, with why, on stderr and in the TOML as comments; the exit status is then 1."""
    conversion = convert_beat_schedule(load_app(app_spec), app_spec)
    text = conversion.to_toml()
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            with output.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            raise click.ClickException(f"{output} exists: give another file") from None
        click.echo(f"wrote {len(conversion.jobs)} job(s) to {output}", err=True)
    for name, why in conversion.refused:
        click.echo(f"not converted: {name!r}: {why}", err=True)
    if conversion.refused:
        raise SystemExit(1)
