"""celery_task jobs as declared: kind, task, args, kwargs, queue and `celery` options, each
problem naming its key; and how `gnomon config check` says their outcomes are followed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.config import load_config
from gnomon.domain import CELERY_DEFAULT_QUEUE, Executor, JobDefinition, JobKind, RunStatus
from gnomon.errors import ConfigInvalid
from tests.conftest import WriteConfig

TASKS = """
[scheduler]
timezone = "UTC"
executor = "celery"

[celery]
broker_url = "redis://127.0.0.1:6379/11"

[[jobs]]
id = "report"
kind = "celery_task"
task = "proj.tasks.report"
args = [1, "two"]
kwargs = { day = "monday" }
queue = "reports"
celery = { serializer = "json", exchange = "reports", routing_key = "reports.daily" }
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "plain"
kind = "celery_task"
task = "proj.tasks.plain"
trigger = { type = "interval", seconds = 5 }
"""


def problems(write_config: WriteConfig, body: str) -> dict[str, str]:
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(body), env={})
    return {p.field: p.message for p in info.value.problems}


def test_a_celery_task_job_carries_its_task_arguments_queue_and_options(
    write_config: WriteConfig,
) -> None:
    jobs = {job.id: job for job in load_config(write_config(TASKS), env={}).jobs}
    report = jobs["report"]
    assert report.kind is JobKind.CELERY_TASK
    assert (report.task, report.args, report.kwargs) == (
        "proj.tasks.report",
        (1, "two"),
        {"day": "monday"},
    )
    assert report.queue == "reports"
    assert report.task_options == {
        "serializer": "json",
        "exchange": "reports",
        "routing_key": "reports.daily",
    }
    assert report.func_text == "proj.tasks.report"
    # The leader sends it itself, whatever [scheduler] executor says; Celery's default queue.
    assert report.executor is Executor.LOCAL
    assert (jobs["plain"].queue, jobs["plain"].task_options) == (CELERY_DEFAULT_QUEUE, {})
    # Stored and read back as declared.
    assert JobDefinition.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_a_celery_task_job_without_its_task_or_with_a_targets_settings_is_refused(
    write_config: WriteConfig,
) -> None:
    body = TASKS.replace(
        'task = "proj.tasks.plain"', 'cwd = "/tmp"\nshell = true\nexecutor = "local"'
    )
    found = problems(write_config, body)
    assert found["jobs[1].task"].startswith("missing: a celery_task job names its task")
    assert 'does not apply to kind = "celery_task"' in found["jobs[1].cwd"]
    assert "does not apply" in found["jobs[1].shell"]
    assert "does not apply" in found["jobs[1].executor"]


def test_a_celery_task_job_needs_the_broker(write_config: WriteConfig) -> None:
    body = TASKS.replace('executor = "celery"\n', "").replace(
        'broker_url = "redis://127.0.0.1:6379/11"', ""
    )
    found = problems(write_config, body)
    assert "set [celery] broker_url" in found["jobs[0].kind"]


@pytest.mark.parametrize(
    ("line", "replacement", "field", "says"),
    [
        (
            'task = "proj.tasks.report"',
            'task = "no spaces allowed"',
            "jobs[0].task",
            "not a Celery task name",
        ),
        ('serializer = "json"', 'serializer = "xml"', "jobs[0].celery.serializer", "'json'"),
        ('routing_key = "reports.daily"', 'routing = "x"', "jobs[0].celery.routing", "unknown key"),
        ('queue = "reports"', 'queue = "bad queue"', "jobs[0].queue", "not a valid queue name"),
    ],
)
def test_bad_celery_task_settings_are_refused_naming_the_field(
    write_config: WriteConfig, line: str, replacement: str, field: str, says: str
) -> None:
    found = problems(write_config, TASKS.replace(line, replacement))
    assert says in found[field]


def test_task_or_celery_options_on_other_jobs_are_refused(write_config: WriteConfig) -> None:
    body = TASKS.replace(
        'kind = "celery_task"\ntask = "proj.tasks.plain"', 'command = ["true"]\ntask = "x"'
    )
    assert 'celery_task" jobs only' in problems(write_config, body)["jobs[1].task"]


def test_a_result_backend_must_be_one_results_are_stored_in(write_config: WriteConfig) -> None:
    body = TASKS.replace("[celery]\n", '[celery]\nresult_backend = "rpc://"\n')
    assert "only to the process that sent" in problems(write_config, body)["celery.result_backend"]


def test_config_check_says_how_celery_task_outcomes_are_tracked(
    write_config: WriteConfig,
) -> None:
    runner = CliRunner()
    path = write_config(TASKS)
    result = runner.invoke(cli, ["config", "check", "--file-only", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "celery_task outcomes: not tracked (no [celery] result_backend)" in result.output
    tracked = write_config(
        TASKS.replace(
            "[celery]\n", '[celery]\nresult_backend = "redis://:hush@127.0.0.1:6379/12"\n'
        )
    )
    result = runner.invoke(
        cli, ["config", "check", "--file-only", "--json", "--config", str(tracked)]
    )
    assert json.loads(result.output)["celery_task_outcomes"] == "result_backend"
    result = runner.invoke(cli, ["config", "check", "--file-only", "--config", str(tracked)])
    assert "tracked through the result backend redis://***@127.0.0.1:6379/12" in result.output
    assert "hush" not in result.output


def test_track_chooses_how_outcomes_are_followed_and_config_check_says_which(
    write_config: WriteConfig,
) -> None:
    runner = CliRunner()

    def check(track: str, *, backend: bool = False) -> tuple[str, str]:
        extra = f'track = "{track}"\n'
        if backend:
            extra += 'result_backend = "redis://127.0.0.1:6379/12"\n'
        path = str(write_config(TASKS.replace("[celery]\n", f"[celery]\n{extra}")))
        args = ["config", "check", "--file-only", "--config", path]
        shown = runner.invoke(cli, args).output
        return json.loads(runner.invoke(cli, [*args, "--json"]).output)[
            "celery_task_outcomes"
        ], shown

    tracking, shown = check("events")
    assert tracking == "events"
    assert "tracked through the Celery workers' events" in shown and "-E" in shown
    # Chosen over a result backend that is configured too; and "none" even with one.
    assert check("events", backend=True)[0] == "events"
    tracking, shown = check("none", backend=True)
    assert tracking == "not_tracked" and '[celery] track = "none"' in shown
    assert check("auto", backend=True)[0] == "result_backend"
    assert check("auto")[0] == "not_tracked"
    loaded = load_config(write_config(TASKS), env={"GNOMON_CELERY_TRACK": "events"})
    assert loaded.settings.celery.track == "events"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('track = "sometimes"', "'auto', 'result_backend', 'events' or 'none'"),
        ('track = "result_backend"', "needs [celery] result_backend"),
    ],
)
def test_a_bad_track_setting_names_its_key(
    write_config: WriteConfig, setting: str, message: str
) -> None:
    found = problems(write_config, TASKS.replace("[celery]\n", f"[celery]\n{setting}\n"))
    assert list(found) == ["celery.track"] and message in found["celery.track"]


def test_a_celery_task_job_is_retried_only_when_its_task_failed(
    write_config: WriteConfig,
) -> None:
    body = TASKS.replace('queue = "reports"', 'queue = "reports"\nretries = 2', 1)
    jobs = {job.id: job for job in load_config(write_config(body), env={}).jobs}
    # The default retry_on (failed, timed_out) narrowed: a timed-out task may still run.
    assert jobs["report"].retry.on == frozenset({RunStatus.FAILED})
    found = problems(
        write_config, body.replace("retries = 2", 'retries = 2\nretry_on = ["timed_out"]')
    )
    assert "timed_out" in found["jobs[0].retry_on"] and "send it again" in found["jobs[0].retry_on"]


def test_a_job_with_both_a_target_and_a_command_is_told_to_give_one(
    write_config: WriteConfig,
) -> None:
    body = """
[[jobs]]
id = "both"
kind = "command"
target = "pkg.mod:f"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
"""
    assert problems(write_config, body) == {
        "jobs[0].target": "give exactly one of 'target' or 'command'"
    }
