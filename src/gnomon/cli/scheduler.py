"""`gnomon scheduler`: run the scheduler in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import click

from gnomon.cli.options import (
    config_option,
    config_path,
    handle_errors,
    log_level_option,
    start_logging,
)
from gnomon.services.runtime import Runtime

#: Jobs listed one by one when the scheduler starts; beyond this many they are only counted.
LISTED_JOBS = 100


def announce_first_admin(runtime: Runtime) -> None:
    """Create `admin` on a store with no users, printing its password once."""
    given = os.environ.get("GNOMON_ADMIN_PASSWORD")
    password = runtime.users.ensure_first_admin(given)
    if password and not given:
        click.echo(
            "\n  Created the first user: admin\n"
            f"  Password (shown once): {password}\n"
            "  Change it with: gnomon users set-password admin\n",
            err=True,
        )


def announce_jobs(runtime: Runtime) -> None:
    """List the jobs, or only count them when the configuration declares many: reading and
    printing thousands of them would hold up the scheduler's first load and first fires."""
    declared = len(runtime.config.jobs)
    if declared > LISTED_JOBS:
        click.echo(f"  {declared} jobs declared; list them with: gnomon jobs list", err=True)
        return
    for view in runtime.jobs.list_jobs():
        click.echo(f"  {view.id:<28} {view.state:<10} {view.trigger.summary()}", err=True)


def catch_stop_signals() -> Callable[[], int]:
    """Catch SIGINT and SIGTERM from now on; returns the wait for the first one (which
    returns its number)."""
    received: list[int] = []
    done = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

    def wait() -> int:
        while not done.wait(1.0):
            pass
        return received[0]

    return wait


@click.command("scheduler")
@config_option
@log_level_option
@handle_errors
def scheduler_command(log_level: str | None) -> None:
    """Run the scheduler (no HTTP API) in the foreground.

    The store's schema is upgraded first. SIGINT or SIGTERM stop it cleanly: no new fires, running
    runs get the configured shutdown grace, then are cancelled and marked.
    """
    # The modules imported so far live as long as the process. Keeping them out of the cyclic
    # garbage collector's reach spares every collection that loading thousands of jobs triggers
    # from traversing them again (0.2 s of CPU at start-up with 10,000 jobs); the scheduler's
    # first load freezes what it loads the same way.
    gc.freeze()
    runtime = Runtime.from_config_file(config_path())
    start_logging(runtime.config.settings.logging, log_level)
    runtime.prepare_store()
    announce_first_admin(runtime)
    # Caught before the scheduler starts: once it may lead, a stop signal must be a clean stop
    # (the lease given up, runs given their grace), not the default death of the process.
    wait_for_stop = catch_stop_signals()
    scheduler = runtime.start_scheduler(own_process=True)
    announce_jobs(runtime)
    click.echo(f"gnomon scheduler running as node {scheduler.node_id}; Ctrl-C to stop", err=True)
    signum = wait_for_stop()
    click.echo(f"received {signal.Signals(signum).name}; stopping", err=True)
    runtime.close()
