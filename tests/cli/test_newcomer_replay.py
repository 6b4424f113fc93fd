"""Issue 13's newcomer list, replayed as written: `gnomon` processes in a directory holding a
gnomon.toml, as someone trying gnomon for the first time would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CONFIG = """
data_dir = "data"

[scheduler]
timezone = "UTC"

[[jobs]]
id = "hello"
command = ["echo", "hello"]
trigger = { type = "cron", expression = "0 */1 * * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "gnomon.toml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return tmp_path


def gnomon(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GNOMON_")}
    return subprocess.run(
        [sys.executable, "-m", "gnomon", *args],
        capture_output=True,
        text=True,
        cwd=site,
        env=clean | env,
        timeout=60,
        check=False,
    )


def test_config_before_the_subcommand_on_a_store_never_started(site: Path) -> None:
    # Was: "No such option '--config'"; then "schema revision is no schema".
    listed = gnomon(site, "--config", "gnomon.toml", "jobs", "list", "--json")
    assert listed.returncode == 0, listed
    assert [job["id"] for job in json.loads(listed.stdout)] == ["gnomon.prune_runs", "hello"]
    shown = gnomon(site, "jobs", "show", "hello")
    assert shown.returncode == 0, shown
    assert "command:             echo hello" in shown.stdout.splitlines()  # was: func
    assert "trigger_description: Every minute, only in 2099" in shown.stdout.splitlines()


def test_db_upgrade_says_what_it_migrated(site: Path) -> None:
    upgraded = gnomon(site, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded
    assert upgraded.stdout.startswith("created the schema at revision ")  # was: "up to date"
    assert "registered the declared jobs: gnomon.prune_runs, hello" in upgraded.stdout


def test_cron_previews_in_the_configurations_timezone(site: Path) -> None:
    shown = gnomon(site, "cron", "@daily", "--count", "1")
    assert shown.returncode == 0, shown
    assert "timezone:    UTC" in shown.stdout.splitlines()  # was: Asia/Shanghai
    assert "next fire time:" in shown.stdout.splitlines()  # was: "next 1 fire times:"
    every = gnomon(site, "cron", "*/1 * * * *")
    assert "description: Every minute" in every.stdout.splitlines()


def test_config_check_refuses_what_cannot_run_and_misspelt_variables(site: Path) -> None:
    config = site / "gnomon.toml"
    config.write_text(
        config.read_text()
        + '\n[[jobs]]\nid = "a"\ntarget = "nomodule_at_all:f"\n'
        + 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }\n'
        + '\n[[jobs]]\nid = "b"\ncommand = ["/no/such/binary"]\n'
        + 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }\n'
    )
    checked = gnomon(site, "config", "check")
    assert checked.returncode == 2, checked
    assert "a.target: cannot import 'nomodule_at_all:f'" in checked.stderr
    assert "b.command: program '/no/such/binary' does not exist" in checked.stderr
    misspelt = gnomon(site, "config", "check", "--file-only", GNOMON_SCHEDULER_TIMEZNE="UTC")
    assert misspelt.returncode == 2, misspelt
    assert "did you mean GNOMON_SCHEDULER_TIMEZONE?" in misspelt.stderr


def test_runs_cancel_prefixes_times_json_errors_and_one_id_scheme(site: Path) -> None:
    from gnomon.services.runtime import Runtime
    from gnomon.services.views import Actor

    assert gnomon(site, "db", "upgrade").returncode == 0
    runtime = Runtime.from_config_file(site / "gnomon.toml", env={})
    try:
        run = runtime.jobs.run_now("hello", Actor("newcomer"))
    finally:
        runtime.close()
    assert run.id[14] == "7"  # a UUIDv7, as scheduled runs' ids are (was: v4)
    listed = gnomon(site, "runs", "list")
    assert listed.stdout.split()[:8] == [
        "ID",
        "JOB",
        "STATUS",
        "SOURCE",
        "SCHEDULED",
        "FOR",
        "QUEUED",
        "STARTED",
    ]
    assert run.queued_at.strftime("%Y-%m-%d %H:%M:%S") in listed.stdout  # was: no time at all
    cancelled = gnomon(site, "runs", "cancel", run.id[:13])  # a unique start of its id
    assert cancelled.returncode == 0, cancelled
    assert cancelled.stdout == f"cancelled run {run.id} (hello)\n"
    again = gnomon(site, "runs", "cancel", run.id[:13], "--json")  # was: text on stderr
    assert again.returncode == 4
    assert json.loads(again.stdout)["message_code"] == "RUN_NOT_CANCELLABLE"
