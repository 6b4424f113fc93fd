"""`gnomon worker`: execute runs sent through the Celery broker, in the foreground."""

from __future__ import annotations

import click

from gnomon.cli.options import (
    config_option,
    config_path,
    handle_errors,
    log_level_option,
    start_logging,
)
from gnomon.domain import DEFAULT_QUEUE
from gnomon.services.runtime import Runtime
from gnomon.services.workers import run_worker, worker_queues


@click.command("worker")
@click.option(
    "--queues",
    "-Q",
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Comma-separated broker queues to take runs from (a job's `queue`).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="How many runs this worker executes at once.",
)
@config_option
@log_level_option
@handle_errors
def worker_command(queues: str, concurrency: int, log_level: str | None) -> None:
    """Run a Celery worker that executes gnomon runs (jobs with executor = "celery").

    It takes run ids from the [celery] broker_url, starts each in the store at most once, runs it
    as the scheduler would, and records it. SIGTERM or SIGINT stop it after its running runs.
    """
    names = worker_queues(queues)
    runtime = Runtime.from_config_file(config_path())
    level = start_logging(runtime.config.settings.logging, log_level)
    click.echo(
        f"gnomon worker on queue(s) {', '.join(names)}, {concurrency} at once; Ctrl-C to stop",
        err=True,
    )
    try:
        run_worker(runtime, names, concurrency, level)
    finally:
        runtime.close()
