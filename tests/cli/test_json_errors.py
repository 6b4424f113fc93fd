"""With --json, a failing command answers with the API's error envelope on stdout."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gnomon import errors
from gnomon.cli import cli
from gnomon.cli.failures import message_code
from tests.cli.test_db_cli import store_at_revision
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@pytest.fixture
def config(write_config: WriteConfig) -> Path:
    path = write_config(CONFIG)
    assert CliRunner().invoke(cli, ["db", "upgrade", "-c", str(path)]).exit_code == 0
    return path


def failing(*args: str) -> tuple[int, dict[str, Any]]:
    """Run a command expected to fail: its exit code and the JSON it printed (nothing else)."""
    result = CliRunner().invoke(cli, list(args), prog_name="gnomon")
    assert result.exit_code != 0, result.output
    assert result.stderr == ""
    body = json.loads(result.stdout)
    assert body["success"] is False and body["error"] is True
    assert body["context"]["exit_code"] == result.exit_code
    assert body["timestamp"].endswith("+00:00")
    return result.exit_code, body


def test_an_unknown_run_is_run_not_found(config: Path) -> None:
    code, body = failing("runs", "show", "0196a1b2", "--json", "-c", str(config))
    assert code == 3
    assert body["message_code"] == "RUN_NOT_FOUND"
    assert body["message"] == "run '0196a1b2' does not exist"
    assert body["context"]["command"] == "gnomon runs show"
    assert "details" not in body


def test_a_conflict_names_its_code(config: Path) -> None:
    from gnomon.services.runtime import Runtime
    from gnomon.services.views import CONFIG as CONFIG_ACTOR

    runtime = Runtime.from_config_file(config, env={})
    runtime.jobs.sync_declared(CONFIG_ACTOR)
    runtime.close()
    code, body = failing("jobs", "run", "nightly", "--json", "-c", str(config))
    assert (code, body["message_code"]) == (4, "SCHEDULER_NOT_RUNNING")
    assert "gnomon scheduler" in body["message"]


def test_invalid_input_has_details_per_field(write_config: WriteConfig) -> None:
    path = write_config('[scheduler]\ntimezone = "Mars/Olympus"\npool_sise = 3\n')
    code, body = failing("config", "check", "--json", "-c", str(path))
    assert (code, body["message_code"]) == (2, "CONFIG_INVALID")
    assert body["message"].endswith("gnomon.toml is invalid")
    fields = {d["field"]: d["message"] for d in body["details"]}
    assert fields["scheduler.pool_sise"] == "unknown key"
    assert "scheduler.timezone" in fields


def test_a_bad_cron_expression(config: Path) -> None:
    code, body = failing("cron", "0 0 * * 8", "--json")
    assert (code, body["message_code"], body["message"]) == (
        2,
        "VALIDATION_ERROR",
        "invalid trigger",
    )
    assert body["details"] == [
        {"field": "cron_expression", "message": "day-of-week: '8' is out of range 0-7"}
    ]


def test_a_store_at_an_older_revision(write_config: WriteConfig) -> None:
    path = write_config(CONFIG)
    store_at_revision(path, "0001")
    code, body = failing("runs", "list", "--json", "-c", str(path))
    assert (code, body["message_code"]) == (1, "STORE_NOT_READY")
    assert body["message"].endswith(f"run 'gnomon db upgrade --config {path}'")


def test_a_command_line_click_refuses(config: Path) -> None:
    code, body = failing("runs", "list", "--status", "bogus", "--json", "-c", str(config))
    assert (code, body["message_code"]) == (2, "USAGE_ERROR")
    assert "'bogus' is not one of" in body["message"]
    assert body["context"]["command"] == "gnomon runs list"
    code, body = failing("runs", "show", "--json")
    assert (code, body["message_code"]) == (2, "USAGE_ERROR")
    assert "Missing argument 'RUN_ID'" in body["message"]


def test_without_json_errors_stay_text_on_stderr(config: Path) -> None:
    result = CliRunner().invoke(cli, ["runs", "show", "0196a1b2", "-c", str(config)])
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == "error: run '0196a1b2' does not exist\n"


def test_an_ambiguous_run_id_lists_its_candidates(config: Path) -> None:
    from gnomon.services.runtime import Runtime
    from tests.cli.test_runs_cli import A, B, add

    runtime = Runtime.from_config_file(config, env={})
    for run_id in (A, B):
        add(runtime, run_id)
    runtime.close()
    code, body = failing("runs", "cancel", "0196a1b2", "--json", "-c", str(config))
    assert (code, body["message_code"]) == (2, "VALIDATION_ERROR")
    assert body["context"]["candidates"] == [A, B]
    assert body["details"] == [{"field": "", "message": A}, {"field": "", "message": B}]


def test_the_codes_are_the_apis() -> None:
    from gnomon.api.errors import spec_for

    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.GnomonError)
    ]
    assert len(classes) > 20
    for cls in classes:
        instance = cls.__new__(cls)
        assert message_code(instance) == spec_for(instance).code, cls
