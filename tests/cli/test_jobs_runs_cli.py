"""`gnomon jobs run` and `gnomon runs show` against a real `gnomon scheduler` process, and the
exit code of a command that fails, on a real SQLite store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.domain import RunStatus
from gnomon.services.runtime import Runtime
from tests.cli.test_db_cli import store_at_revision
from tests.conftest import WriteConfig
from tests.e2e.procs import SchedulerProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

CONFIG = """
[scheduler]
timezone = "UTC"
shutdown_grace = 2

[[jobs]]
id = "hello"
command = ["sh", "-c", "echo hello from the job; echo a warning >&2"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "sleeper"
command = ["sleep", "60"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def invoke(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    return result.exit_code, result.output


def gnomon(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m gnomon ARGS --config CONFIG` as a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GNOMON_")}
    return subprocess.run(
        [sys.executable, "-m", "gnomon", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def scheduler(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> Iterator[tuple[Path, Runtime]]:
    """A config, a runtime on its store, and a `gnomon scheduler` process leading it."""
    config = write_config(CONFIG)
    runtime = runtime_factory(config)
    proc = SchedulerProcess(config, tmp_path / "scheduler.log")
    try:
        wait_for(runtime.jobs.scheduler_running, timeout=30, what="the scheduler to lead")
        yield config, runtime
    finally:
        assert proc.stop() == 0, proc.output()


def test_jobs_run_queues_a_run_that_runs_show_then_shows_with_its_output(
    scheduler: tuple[Path, Runtime],
) -> None:
    config, runtime = scheduler
    code, out = invoke(config, "jobs", "run", "hello")
    assert code == 0, out
    found = re.fullmatch(r"queued run (\S+) \((\S+)\)\n", out)
    assert found, out
    run_id, manual_job_id = found.groups()
    run = wait_for(
        lambda: r if (r := runtime.runs.get_run(run_id)).status.is_final else None,
        timeout=30,
        what="the run to end",
    )
    assert (run.status, run.manual_job_id, run.job_id) == (
        RunStatus.SUCCEEDED,
        manual_job_id,
        "hello",
    )

    code, out = invoke(config, "runs", "show", run_id)
    assert code == 0, out
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", out.split("output:\n")[0], re.MULTILINE))
    assert fields["id"] == run_id
    assert fields["status"] == "succeeded"
    assert fields["trigger_source"] == "manual"
    assert fields["exit_code"] == "0"
    assert fields["scheduled_for"] == "-"
    output = out.split("output:\n", 1)[1]
    assert "hello from the job" in output and "a warning" in output

    code, out = invoke(config, "runs", "show", run_id, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["id"], doc["status"], doc["manual_job_id"]) == (run_id, "succeeded", manual_job_id)
    assert "hello from the job" in doc["output"]


def test_jobs_run_json_answers_the_ids_of_the_run_it_queued(
    scheduler: tuple[Path, Runtime],
) -> None:
    config, runtime = scheduler
    code, out = invoke(config, "jobs", "run", "hello", "--json")
    assert code == 0, out
    ids = json.loads(out)
    run = runtime.runs.get_run(ids["run_id"])
    assert (run.job_id, run.manual_job_id) == ("hello", ids["manual_job_id"])
    wait_for(
        lambda: runtime.runs.get_run(ids["run_id"]).status is RunStatus.SUCCEEDED,
        timeout=30,
        what="the run to succeed",
    )


def test_runs_cancel_stops_a_running_command_given_the_start_of_its_id(
    scheduler: tuple[Path, Runtime],
) -> None:
    config, runtime = scheduler
    code, out = invoke(config, "jobs", "run", "sleeper", "--json")
    assert code == 0, out
    run_id = json.loads(out)["run_id"]
    wait_for(
        lambda: runtime.runs.get_run(run_id).status is RunStatus.RUNNING,
        timeout=30,
        what="the run to start",
    )
    code, out = invoke(config, "runs", "cancel", run_id[:8])
    assert code == 0, out
    assert out.startswith(f"cancellation requested for run {run_id} (sleeper, running)")
    wait_for(
        lambda: runtime.runs.get_run(run_id).status is RunStatus.CANCELLED,
        timeout=30,
        what="the run to be cancelled",
    )


def test_runs_show_of_an_unknown_run_fails_naming_it(scheduler: tuple[Path, Runtime]) -> None:
    config, _ = scheduler
    code, out = invoke(config, "runs", "show", "no-such-run")
    assert code == 3
    assert "no-such-run" in out


def test_a_fresh_store_is_created_with_the_declared_jobs_by_a_reading_command(
    write_config: WriteConfig,
) -> None:
    config = write_config(CONFIG)
    listed = gnomon(config, "jobs", "list", "--json")
    assert listed.returncode == 0, listed
    assert [job["id"] for job in json.loads(listed.stdout)] == [
        "gnomon.prune_runs",
        "hello",
        "sleeper",
    ]
    newest = gnomon(config, "db", "history", "--json")
    revision = json.loads(newest.stdout)[-1]["revision"]
    store = config.parent / "data" / "gnomon.db"
    assert listed.stderr.splitlines() == [
        f"note: created the store sqlite:///{store} (schema {revision})",
        "note: registered the declared jobs: gnomon.prune_runs, hello, sleeper",
    ]
    again = gnomon(config, "jobs", "list")
    assert (again.returncode, again.stderr) == (0, "")


def test_a_store_at_an_older_revision_is_refused_until_db_upgrade_naming_it(
    write_config: WriteConfig,
) -> None:
    config = write_config(CONFIG)
    store_at_revision(config, "0001")
    failed = gnomon(config, "jobs", "list")
    assert failed.returncode == 1, failed
    assert failed.stderr == (
        "error: the store is not ready: schema revision is 0001, expected "
        f"{newest_revision(config)}; run 'gnomon db upgrade --config {config}'\n"
    )
    assert failed.stdout == ""
    upgraded = gnomon(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded
    store = config.parent / "data" / "gnomon.db"
    assert upgraded.stdout.splitlines() == [
        f"migrated the schema from revision 0001 to {newest_revision(config)}: sqlite:///{store}",
        "registered the declared jobs: gnomon.prune_runs, hello, sleeper",
    ]
    listed = gnomon(config, "jobs", "list", "--json")
    assert listed.returncode == 0, listed
    assert len(json.loads(listed.stdout)) == 3
    again = gnomon(config, "db", "upgrade")
    assert again.stdout == (
        f"schema already at the newest revision, {newest_revision(config)}: sqlite:///{store}\n"
    )


def newest_revision(config: Path) -> str:
    history = gnomon(config, "db", "history", "--json")
    return str(json.loads(history.stdout)[-1]["revision"])
