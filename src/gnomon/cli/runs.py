"""`gnomon runs list|show`."""

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
from gnomon.domain import RunStatus, TriggerSource
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
    echo_table(
        ["id", "job", "status", "source", "scheduled for", "duration"],
        [
            [
                r["id"],
                r["job_id"],
                r["status"] + (f" x{r['fire_count']}" if r["fire_count"] > 1 else ""),
                r["trigger_source"],
                r["scheduled_for"] or "-",
                f"{r['duration_ms']} ms" if r["duration_ms"] is not None else "-",
            ]
            for r in items
        ],
    )
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


@runs_group.command("show")
@click.argument("run_id")
@config_option
@json_option
@handle_errors
def show_run(run_id: str, as_json: bool) -> None:
    """Show one run with its output."""
    doc = run_document(open_runtime().runs.get_run(run_id), with_output=True)
    if as_json:
        echo_json(doc)
        return
    for key, value in doc.items():
        if key not in ("output", "traceback"):
            click.echo(f"{key + ':':<20}{value if value is not None else '-'}")
    if doc["traceback"]:
        click.echo("traceback:\n" + doc["traceback"])
    click.echo("output:\n" + (doc["output"] or "(none)"))
