"""The Celery executor's settings: [celery] broker_url, [scheduler] executor, per job executor
and queue, each problem naming its key."""

from __future__ import annotations

import pytest

from gnomon.config import load_config
from gnomon.domain import DEFAULT_QUEUE, Executor
from gnomon.errors import ConfigInvalid
from tests.conftest import WriteConfig

CELERY = """
[scheduler]
timezone = "UTC"
executor = "celery"

[celery]
broker_url = "amqp://guest:guest@127.0.0.1:5672//"

[[jobs]]
id = "report"
target = "json:dumps"
queue = "reports"
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "here"
command = ["true"]
executor = "local"
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "anywhere"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
"""


def test_executor_and_queue_are_per_job_with_the_scheduler_default(
    write_config: WriteConfig,
) -> None:
    loaded = load_config(write_config(CELERY), env={})
    jobs = {job.id: job for job in loaded.jobs}
    assert (jobs["report"].executor, jobs["report"].queue) == (Executor.CELERY, "reports")
    assert (jobs["anywhere"].executor, jobs["anywhere"].queue) == (Executor.CELERY, DEFAULT_QUEUE)
    assert jobs["here"].executor is Executor.LOCAL
    # gnomon's own housekeeping stays on the scheduler whatever the default.
    assert jobs["gnomon.prune_runs"].executor is Executor.LOCAL
    assert loaded.settings.celery.broker_url == "amqp://guest:guest@127.0.0.1:5672//"


def test_the_executor_defaults_to_local(write_config: WriteConfig) -> None:
    body = CELERY.replace('executor = "celery"\n', "").replace('queue = "reports"\n', "")
    loaded = load_config(write_config(body), env={})
    assert {job.executor for job in loaded.jobs} == {Executor.LOCAL}


def test_a_redis_broker_is_accepted_and_may_come_from_the_environment(
    write_config: WriteConfig,
) -> None:
    body = CELERY.replace('broker_url = "amqp://guest:guest@127.0.0.1:5672//"', "")
    loaded = load_config(
        write_config(body), env={"GNOMON_CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"}
    )
    assert loaded.settings.celery.broker_url == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("old", "new", "fields"),
    [
        (
            'broker_url = "amqp://guest:guest@127.0.0.1:5672//"',
            'broker_url = "http://127.0.0.1:5672"',
            ["celery.broker_url"],
        ),
        # No broker: the default is reported once, a job that asks for Celery itself too.
        (
            'broker_url = "amqp://guest:guest@127.0.0.1:5672//"',
            "",
            ["scheduler.executor"],
        ),
        (
            'executor = "celery"\n\n[celery]',
            'executor = "cluster"\n\n[celery]',
            ["scheduler.executor"],
        ),
        ('executor = "local"', 'executor = "remote"', ["jobs[1].executor"]),
        ('queue = "reports"', 'queue = "no spaces"', ["jobs[0].queue"]),
        ('queue = "reports"', 'queue = ""', ["jobs[0].queue"]),
        # A queue means nothing to a job executed here.
        ('executor = "local"', 'executor = "local"\nqueue = "q"', ["jobs[1].queue"]),
        ("[celery]", "[celery]\nbroker = 1", ["celery.broker"]),
    ],
)
def test_a_bad_celery_setting_names_its_key(
    write_config: WriteConfig, old: str, new: str, fields: list[str]
) -> None:
    assert old in CELERY
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(CELERY.replace(old, new, 1)), env={})
    assert [p.field for p in info.value.problems] == fields


def test_a_job_sent_to_celery_without_a_broker_names_its_executor(
    write_config: WriteConfig,
) -> None:
    body = (
        CELERY.replace('executor = "celery"\n', "")
        .replace('broker_url = "amqp://guest:guest@127.0.0.1:5672//"', "")
        .replace('queue = "reports"', 'executor = "celery"')
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(body), env={})
    assert [p.field for p in info.value.problems] == ["jobs[0].executor"]
    assert "[celery] broker_url" in info.value.problems[0].message
