"""`gnomon scheduler`'s start-up: what it imports and what it prints about the jobs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import COMMANDS, cli
from gnomon.cli.scheduler import LISTED_JOBS, announce_jobs
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig

# The HTTP layer, and the PostgreSQL driver (imported when a PostgreSQL store is opened).
UNNEEDED = (
    "flask",
    "gunicorn",
    "spectree",
    "prometheus_client",
    "gnomon.api",
    "gnomon.web",
    "psycopg",
)


def test_the_scheduler_command_does_not_import_the_http_layer_or_psycopg() -> None:
    code = (
        "import sys, click, gnomon.cli as c\n"
        "c.cli.get_command(click.Context(c.cli), 'scheduler')\n"
        f"print([m for m in {UNNEEDED!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output


def jobs_config(count: int) -> str:
    jobs = "".join(
        f'[[jobs]]\nid = "j{i:04d}"\ncommand = ["true"]\n'
        'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }\n'
        for i in range(count)
    )
    return (
        '[scheduler]\ntimezone = "UTC"\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\ntrigger = { type = "date", run_date = "2099-01-01" }\n'
        + jobs
    )


def test_start_up_lists_a_few_jobs_one_by_one(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = runtime_factory(write_config(jobs_config(3)))
    runtime.jobs.sync_declared(Actor("test"))
    announce_jobs(runtime)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[0] for line in lines] == ["gnomon.prune_runs", "j0000", "j0001", "j0002"]
    assert "interval[1:00:00] UTC" in lines[1]


def test_start_up_only_counts_many_jobs(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = runtime_factory(write_config(jobs_config(LISTED_JOBS)))
    announce_jobs(runtime)
    err = capsys.readouterr().err
    assert err.strip() == f"{LISTED_JOBS + 1} jobs declared; list them with: gnomon jobs list"
