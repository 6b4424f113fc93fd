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


def test_config_check_never_shows_the_store_password(write_config: WriteConfig) -> None:
    path = write_config(
        CONFIG + '\n[store]\nurl = "postgresql://gnomon:s3cret@db.internal/gnomon"\n'
    )
    for args in (["--file-only"], ["--file-only", "--json"]):
        code, out = invoke("config", "check", "--config", str(path), *args)
        assert code == 0, out
        assert "s3cret" not in out and "gnomon:***@db.internal/gnomon" in out


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


def test_config_check_imports_targets_and_finds_programs(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "jobs_here").mkdir()
    (tmp_path / "jobs_here" / "preflight_mine.py").write_text(
        "def work():\n    return 1\n", "utf-8"
    )
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n", "utf-8")
    script.chmod(0o644)  # not executable
    path = write_config(
        """
        [scheduler]
        python_path = ["jobs_here"]

        [[jobs]]
        id = "gnomon.prune_runs"
        enabled = false

        [[jobs]]
        id = "fine"
        target = "preflight_mine:work"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "found-on-path"
        command = ["sh", "-c", "true"]
        cwd = "."
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "by-reference"
        command = ["${env:SOME_PROGRAM}"]
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "missing-module"
        target = "nomodule_at_all:f"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "missing-function"
        target = "preflight_mine:play"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "missing-binary"
        command = ["/no/such/binary"]
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "not-on-path"
        command = ["no-such-program-anywhere", "x"]
        env = { PATH = "/usr/bin:/bin" }
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }

        [[jobs]]
        id = "not-executable"
        command = ["./script.sh"]
        cwd = "TMP"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """.replace("TMP", str(tmp_path))
    )
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 2, out
    assert out.splitlines() == [
        f"error: {path}: 5 jobs cannot start here",
        "  - missing-binary.command: program '/no/such/binary' does not exist",
        "  - missing-function.target: cannot import 'preflight_mine:play': AttributeError: "
        "preflight_mine has no attribute 'play'",
        "  - missing-module.target: cannot import 'nomodule_at_all:f': ModuleNotFoundError: No "
        "module named 'nomodule_at_all'",
        "  - not-executable.command: program './script.sh' is not executable",
        "  - not-on-path.command: program 'no-such-program-anywhere' is not on the PATH "
        "(/usr/bin:/bin)",
    ]
    code, out = invoke("config", "check", "--json", "--config", str(path))
    body = json.loads(out)
    assert (code, body["message_code"]) == (2, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == [
        "missing-binary.command",
        "missing-function.target",
        "missing-module.target",
        "not-executable.command",
        "not-on-path.command",
    ]
    # Checking the file alone (on another machine than the scheduler's, say) passes.
    code, out = invoke("config", "check", "--file-only", "--config", str(path))
    assert code == 0, out


def test_config_check_says_the_jobs_can_start(config: Path) -> None:
    code, out = invoke("config", "check", "--config", str(config))
    assert code == 0, out
    assert out.splitlines()[1] == "every job's target imports and program is found"


def test_unknown_gnomon_variables_are_errors_naming_the_closest(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNOMON_SCHEDULER_TIMEZNE", "UTC")
    monkeypatch.setenv("GNOMON_COLOUR", "teal")
    # What gnomon, its deployment and its tests use are known.
    for name in ("GNOMON_ADMIN_PASSWORD", "GNOMON_SECRET_KEY", "GNOMON_TEST_ANYTHING"):
        monkeypatch.setenv(name, "x")
    code, out = invoke("config", "check", "--config", str(config))
    assert code == 2, out
    assert out.splitlines()[1:] == [
        "  - GNOMON_COLOUR: unknown gnomon environment variable (GNOMON_<SECTION>_<KEY> sets "
        "[section] key): unset it or correct it",
        "  - GNOMON_SCHEDULER_TIMEZNE: unknown gnomon environment variable; did you mean "
        "GNOMON_SCHEDULER_TIMEZONE?",
    ]
    code, out = invoke("jobs", "list", "--config", str(config))
    assert code == 2 and "GNOMON_SCHEDULER_TIMEZNE" in out  # every command, not only check


def test_variables_the_configuration_references_are_known(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        """
        [[jobs]]
        id = "report"
        command = ["true"]
        env = { TOKEN = "${env:GNOMON_REPORT_TOKEN}" }
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )
    monkeypatch.setenv("GNOMON_REPORT_TOKEN", "t")
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 0, out
