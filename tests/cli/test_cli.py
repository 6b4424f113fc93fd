"""The command line, through click's runner, on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def config(write_config: WriteConfig) -> Path:
    path = write_config(CONFIG)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_config_check_accepts_a_valid_file(config: Path) -> None:
    code, out = invoke("config", "check", "--config", str(config))
    assert code == 0
    assert "nightly" in out and "cron[0 30 2 * * mon-fri 2099] UTC" in out


def test_config_check_names_every_bad_key(write_config: WriteConfig) -> None:
    path = write_config(
        """
        [scheduler]
        timezone = "Mars/Olympus"
        pool_sise = 3

        [[jobs]]
        id = "x"
        command = ["true"]
        trigger = { type = "cron", expression = "0 0 * * 8" }
        """
    )
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 2
    assert "scheduler.timezone" in out
    assert "scheduler.pool_sise: unknown key" in out
    assert "jobs[0].trigger.expression: day-of-week" in out


def test_config_is_accepted_before_or_after_the_subcommand(config: Path) -> None:
    before = invoke("--config", str(config), "config", "check")
    after = invoke("config", "check", "--config", str(config))
    assert before == after
    assert before[0] == 0 and "nightly" in before[1]
    code, out = invoke("-c", str(config), "db", "current")
    assert code == 0 and "up to date" in out


def test_the_subcommands_config_wins_over_the_groups(config: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    code, out = invoke("--config", missing, "config", "check", "-c", str(config))
    assert code == 0, out


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    code, out = invoke("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "file not found" in out


def test_jobs_list_and_show_before_the_scheduler_ever_ran(config: Path) -> None:
    # 'db upgrade' registered the declared jobs, as a scheduler's first start would.
    code, out = invoke("jobs", "list", "--json", "--config", str(config))
    assert code == 0
    assert [job["id"] for job in json.loads(out)] == ["gnomon.prune_runs", "nightly"]
    code, out = invoke("jobs", "show", "nightly", "--config", str(config))
    assert code == 0, out
    assert "next_run_time:       2099-01-01T02:30:00+00:00" in out


def test_pause_resume_and_run_through_the_cli(config: Path) -> None:
    from gnomon.services.runtime import Runtime
    from gnomon.services.views import CONFIG as CONFIG_ACTOR

    runtime = Runtime.from_config_file(config, env={})
    runtime.jobs.sync_declared(CONFIG_ACTOR)
    code, out = invoke("jobs", "pause", "nightly", "--config", str(config))
    assert (code, out.strip()) == (0, "nightly: paused")
    code, out = invoke("jobs", "resume", "nightly", "--json", "--config", str(config))
    assert code == 0 and json.loads(out)["state"] == "scheduled"
    code, out = invoke("jobs", "run", "nightly", "--config", str(config))
    assert code == 4
    assert "no scheduler is running" in out
    code, out = invoke("runs", "list", "--job", "nightly", "--json", "--config", str(config))
    assert code == 0 and json.loads(out) == {"items": [], "next_cursor": None}
    runtime.close()


def test_jobs_show_names_what_runs_as_the_configuration_does(config: Path) -> None:
    from gnomon.services.runtime import Runtime
    from gnomon.services.views import CONFIG as CONFIG_ACTOR

    runtime = Runtime.from_config_file(config, env={})
    runtime.jobs.sync_declared(CONFIG_ACTOR)
    runtime.close()
    code, out = invoke("jobs", "show", "nightly", "--config", str(config))
    assert code == 0, out
    assert "command:             true" in out.splitlines()
    assert "func" not in out
    code, out = invoke("jobs", "show", "gnomon.prune_runs", "--config", str(config))
    assert code == 0, out
    assert any(line.startswith("target:              gnomon.") for line in out.splitlines())


def test_users_create_and_list(config: Path) -> None:
    code, out = invoke(
        "users",
        "create",
        "ops",
        "--role",
        "viewer",
        "--password",
        "long-enough-pw",
        "--config",
        str(config),
    )
    assert code == 0, out
    code, out = invoke("users", "list", "--json", "--config", str(config))
    assert [u["username"] for u in json.loads(out)] == ["ops"]
    code, out = invoke(
        "users",
        "create",
        "ops",
        "--role",
        "viewer",
        "--password",
        "long-enough-pw",
        "--config",
        str(config),
    )
    assert code == 4


def test_commands_use_the_store_of_the_configuration_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_CONFIG", raising=False)
    monkeypatch.delenv("GNOMON_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "elsewhere" / "store.db"
    store.parent.mkdir()
    (tmp_path / "gnomon.toml").write_text(f'[store]\nurl = "sqlite:///{store}"\n', "utf-8")
    code, out = invoke("db", "upgrade")
    assert code == 0, out
    assert str(store) in out and store.is_file()
    assert not (tmp_path / "data").exists()
    code, out = invoke("config", "check", "--json")
    assert json.loads(out)["store_url"] == f"sqlite:///{store}"
