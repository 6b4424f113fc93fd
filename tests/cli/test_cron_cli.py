"""``gnomon cron``: explain an expression and preview its fire times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.cli.cron import cron_command


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cron_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_explains_and_previews_in_shanghai_by_default() -> None:
    code, out, err = run("0 30 2 * * mon-fri", "--after", "2026-05-01T00:00:00Z", "--count", "3")
    assert code == 0, err
    assert out.splitlines() == [
        "expression:  0 30 2 * * mon-fri *",
        "description: At 02:30, Monday through Friday",
        "timezone:    Asia/Shanghai",
        "next 3 fire times:",
        "  2026-05-04T02:30:00+08:00",
        "  2026-05-05T02:30:00+08:00",
        "  2026-05-06T02:30:00+08:00",
    ]


def test_one_fire_time_is_announced_in_the_singular() -> None:
    code, out, err = run("@daily", "--tz", "UTC", "--after", "2026-05-01T00:00:00Z", "--count", "1")
    assert code == 0, err
    assert out.splitlines()[-2:] == ["next fire time:", "  2026-05-02T00:00:00+00:00"]


def test_json_output_for_scripts() -> None:
    code, out, _ = run(
        "30 2 * * *", "--tz", "America/New_York", "--after", "2026-03-07T00:00:00", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "expression": "0 30 2 * * * *",
        "description": "At 02:30",
        "timezone": "America/New_York",
        "next_run_times": [
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
            "2026-03-10T02:30:00-04:00",
            "2026-03-11T02:30:00-04:00",
        ],
    }


def test_unquoted_fields_are_joined() -> None:
    code, out, _ = run("0", "12", "*", "*", "fri", "--json", "--count", "1")
    assert code == 0
    assert json.loads(out)["expression"] == "0 0 12 * * fri *"
    assert len(json.loads(out)["next_run_times"]) == 1


def test_default_count_is_five_and_starts_now() -> None:
    code, out, _ = run("@hourly", "--json")
    assert code == 0
    assert len(json.loads(out)["next_run_times"]) == 5


def test_bad_expression_names_the_field_on_stderr() -> None:
    code, out, err = run("0 0 * * 8")
    assert code == 2
    assert out == ""
    assert "cron_expression: day-of-week: '8' is out of range 0-7" in err


def test_never_firing_expression_is_an_error() -> None:
    code, _, err = run("0 0 30 2 *")
    assert code == 2
    assert "never fires" in err


def test_bad_timezone_names_the_field() -> None:
    code, _, err = run("@daily", "--tz", "Atlantis/Capital")
    assert code == 2
    assert "timezone: unknown timezone 'Atlantis/Capital'" in err


def test_bad_after_names_the_option() -> None:
    code, _, err = run("@daily", "--after", "yesterday")
    assert code == 2
    assert "--after:" in err


def test_count_is_limited_to_one_hundred() -> None:
    assert run("@daily", "--count", "101")[0] == 2
    assert run("@daily", "--count", "0")[0] == 2
    code, out, _ = run("* * * * * *", "--count", "100", "--json")
    assert code == 0
    assert len(json.loads(out)["next_run_times"]) == 100


def test_command_is_named_cron() -> None:
    assert cron_command.name == "cron"


def test_the_timezone_defaults_to_the_configurations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_CONFIG", raising=False)
    monkeypatch.delenv("GNOMON_SCHEDULER_TIMEZONE", raising=False)
    monkeypatch.chdir(tmp_path)
    after = ("--after", "2026-05-01T00:00:00Z", "--count", "1")
    # No configuration: the built-in default.
    assert run("@daily", *after)[1].splitlines()[2] == "timezone:    Asia/Shanghai"
    (tmp_path / "gnomon.toml").write_text(
        '[scheduler]\ntimezone = "UTC"\n[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n',
        encoding="utf-8",
    )
    code, out, err = run("@daily", *after)
    assert code == 0, err
    assert out.splitlines()[2:] == [
        "timezone:    UTC",
        "next fire time:",
        "  2026-05-02T00:00:00+00:00",
    ]
    assert run("@daily", "--tz", "Europe/Paris", *after)[1].splitlines()[2].endswith("Paris")
    monkeypatch.setenv("GNOMON_SCHEDULER_TIMEZONE", "America/New_York")
    assert run("@daily", *after)[1].splitlines()[2].endswith("America/New_York")
    monkeypatch.delenv("GNOMON_SCHEDULER_TIMEZONE")
    other = tmp_path / "other.toml"
    other.write_text(
        '[scheduler]\ntimezone = "Asia/Tokyo"\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n',
        encoding="utf-8",
    )
    assert run("@daily", "--config", str(other), *after)[1].splitlines()[2].endswith("Tokyo")
    result = CliRunner().invoke(cli, ["--config", str(other), "cron", "@daily", *after])
    assert result.stdout.splitlines()[2] == "timezone:    Asia/Tokyo"


def test_an_invalid_configuration_is_reported_unless_tz_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gnomon.toml").write_text(
        '[scheduler]\ntimezone = "Mars/Base"\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n',
        encoding="utf-8",
    )
    code, _, err = run("@daily")
    assert code == 2
    assert err.startswith("error: ") and "gnomon.toml is invalid" in err
    assert "scheduler.timezone" in err
    code, out, err = run("@daily", "--tz", "UTC")
    assert code == 0, err
    assert "timezone:    UTC" in out
