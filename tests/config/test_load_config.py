"""Loading the configuration: job definitions built once, their triggers shared with later loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnomon.config import load_config
from gnomon.domain import Isolation, RetryPolicy, RunStatus
from gnomon.errors import ConfigInvalid
from gnomon.triggers import load_trigger
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * mon-fri", timezone = "Asia/Shanghai" }

[[jobs]]
id = "off"
command = ["true"]
trigger = { type = "interval", minutes = 1 }
enabled = false
"""


@pytest.fixture
def config_path(write_config: WriteConfig) -> Path:
    return write_config(CONFIG)


def test_loaded_config_carries_the_enabled_definitions_sorted_with_shipped_jobs(
    config_path: Path,
) -> None:
    loaded = load_config(config_path, env={})
    assert [job.id for job in loaded.jobs] == ["gnomon.prune_runs", "nightly", "tick"]
    tick = next(job for job in loaded.jobs if job.id == "tick")
    assert tick.trigger["type"] == "interval" and tick.trigger["seconds"] == 5
    assert tick.misfire_grace_time == 300  # the scheduler default applied


def test_loaded_config_does_not_keep_the_declarations_twice(config_path: Path) -> None:
    loaded = load_config(config_path, env={})
    assert loaded.settings.jobs == []
    assert loaded.settings.scheduler.timezone == "UTC"


def test_declared_triggers_are_reused_by_load_trigger(config_path: Path) -> None:
    loaded = load_config(config_path, env={})
    for job in loaded.jobs:
        trigger = load_trigger(dict(job.trigger))
        assert trigger is load_trigger(dict(job.trigger))
        assert trigger.to_spec() == job.trigger


def test_a_bad_job_names_its_key_and_the_file(write_config: WriteConfig) -> None:
    path = write_config(CONFIG.replace("seconds = 5", "seconds = 0"))
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, env={})
    assert [p.field for p in info.value.problems] == ["jobs[0].trigger.seconds"]
    assert str(path.resolve()) in str(info.value)


ISOLATION = """
[scheduler]
timezone = "UTC"
isolation = "process"

[[jobs]]
id = "report"
target = "pkg.jobs:report"
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "quick"
target = "pkg.jobs:quick"
trigger = { type = "interval", seconds = 5 }
isolation = "thread"

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
"""


def test_isolation_is_per_job_with_the_scheduler_default(write_config: WriteConfig) -> None:
    jobs = {job.id: job for job in load_config(write_config(ISOLATION), env={}).jobs}
    assert jobs["report"].isolation is Isolation.PROCESS  # the [scheduler] default
    assert jobs["quick"].isolation is Isolation.THREAD
    # Shipped jobs use the scheduler's store: the default does not move them out of it.
    assert jobs["gnomon.prune_runs"].isolation is Isolation.THREAD
    assert jobs["tick"].isolation is Isolation.THREAD  # not used: a command has its own process


def test_isolation_defaults_to_thread(config_path: Path) -> None:
    loaded = load_config(config_path, env={})
    assert loaded.settings.scheduler.isolation == "thread"
    assert {job.isolation for job in loaded.jobs} == {Isolation.THREAD}


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        (
            'isolation = "thread"',
            'isolation = "fork"',
            "jobs[1].isolation",
            "'thread' or 'process'",
        ),
        (
            'isolation = "process"',
            'isolation = "proc"',
            "scheduler.isolation",
            "'thread' or 'process'",
        ),
        (
            'command = ["true"]',
            'command = ["true"]\nisolation = "process"',
            "jobs[2].isolation",
            "applies to Python targets only",
        ),
        (
            'id = "quick"',
            'id = "gnomon.prune_runs"',
            "jobs[1].isolation",
            "shipped jobs use the scheduler's own store",
        ),
    ],
)
def test_a_bad_isolation_names_its_key(
    write_config: WriteConfig, old: str, new: str, field: str, message: str
) -> None:
    body = ISOLATION.replace(old, new, 1)
    if "prune_runs" in new:
        body = body.replace('isolation = "thread"', 'isolation = "process"', 1)
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(body), env={})
    assert [p.field for p in info.value.problems] == [field]
    assert message in info.value.problems[0].message


def test_isolation_default_comes_from_the_environment_too(write_config: WriteConfig) -> None:
    loaded = load_config(write_config(CONFIG), env={"GNOMON_SCHEDULER_ISOLATION": "process"})
    assert loaded.settings.scheduler.isolation == "process"


def test_inherit_env_is_per_job_with_the_scheduler_default(write_config: WriteConfig) -> None:
    body = CONFIG.replace('id = "nightly"', 'id = "nightly"\ninherit_env = true')
    jobs = {job.id: job for job in load_config(write_config(body), env={}).jobs}
    assert jobs["nightly"].inherit_env is True
    assert jobs["tick"].inherit_env is False  # off by default

    body = CONFIG.replace('timezone = "UTC"', 'timezone = "UTC"\ninherit_env = true', 1)
    body = body.replace('id = "nightly"', 'id = "nightly"\ninherit_env = false')
    jobs = {job.id: job for job in load_config(write_config(body), env={}).jobs}
    assert jobs["tick"].inherit_env is True  # the [scheduler] default
    assert jobs["nightly"].inherit_env is False  # the job's own setting wins


def test_inherit_env_default_comes_from_the_environment_too(write_config: WriteConfig) -> None:
    loaded = load_config(write_config(CONFIG), env={"GNOMON_SCHEDULER_INHERIT_ENV": "true"})
    assert {job.inherit_env for job in loaded.jobs} == {True}


def test_secret_references_are_kept_unresolved_in_the_definitions(
    write_config: WriteConfig,
) -> None:
    body = CONFIG.replace(
        'id = "tick"\ncommand = ["true"]',
        'id = "tick"\ncommand = ["tool", "--token=${file:/run/secrets/token}"]\n'
        'env = { DB_PASSWORD = "${env:REPORT_DB_PASSWORD}" }',
    )
    jobs = {job.id: job for job in load_config(write_config(body), env={}).jobs}
    assert jobs["tick"].command == ("tool", "--token=${file:/run/secrets/token}")
    assert jobs["tick"].env == {"DB_PASSWORD": "${env:REPORT_DB_PASSWORD}"}


def test_malformed_secret_references_name_their_keys(write_config: WriteConfig) -> None:
    body = CONFIG.replace(
        'id = "tick"\ncommand = ["true"]',
        'id = "tick"\ncommand = ["tool", "${file:token}"]\nenv = { PW = "${env:}" }',
    ).replace(
        'id = "nightly"\ncommand = ["true"]',
        'id = "nightly"\ncommand = "psql -W ${env:PW}"\nshell = true',
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(body), env={})
    assert [p.field for p in info.value.problems] == [
        "jobs[0].env.PW",
        "jobs[0].command[1]",
        "jobs[1].command[0]",
    ]
    assert "pass it through env" in info.value.problems[2].message


def test_security_settings_default_to_the_documented_values(config_path: Path) -> None:
    server = load_config(config_path, env={}).settings.server
    assert (server.session_idle_timeout, server.session_max_lifetime) == (43200, 604800)
    assert (server.trusted_proxies, server.token_max_lifetime) == (0, None)
    assert (server.login_max_failures, server.login_window) == (10, 60)
    assert (server.login_max_client_failures, server.login_max_concurrent_hashes) == (30, 2)


def test_security_settings_come_from_the_file_and_the_environment(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        "[server]\nsession_idle_timeout = 900\ntoken_max_lifetime = 30\n"
        "login_max_client_failures = 100\n"
    )
    env = {"GNOMON_SERVER_TRUSTED_PROXIES": "1", "GNOMON_SERVER_LOGIN_MAX_CONCURRENT_HASHES": "4"}
    server = load_config(path, env=env).settings.server
    assert (server.session_idle_timeout, server.token_max_lifetime) == (900, 30)
    assert server.trusted_proxies == 1
    assert (server.login_max_client_failures, server.login_max_concurrent_hashes) == (100, 4)


@pytest.mark.parametrize(
    "line",
    [
        "trusted_proxies = -1",
        "session_idle_timeout = 0",
        "session_max_lifetime = 10",
        "token_max_lifetime = 0",
        "login_max_client_failures = 0",
        "login_max_concurrent_hashes = 0",
        "login_max_concurrent_hashes = 65",
    ],
)
def test_bad_security_settings_name_their_key(write_config: WriteConfig, line: str) -> None:
    path = write_config(f"[server]\n{line}\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, env={})
    assert [p.field for p in caught.value.problems] == [f"server.{line.split()[0]}"]


def test_logging_settings_default_to_text_at_info(write_config: WriteConfig) -> None:
    logging = load_config(write_config(CONFIG), env={}).settings.logging
    assert (logging.format, logging.level) == ("text", "info")


def test_logging_settings_from_the_file_and_the_environment(write_config: WriteConfig) -> None:
    path = write_config(CONFIG + '\n[logging]\nformat = "json"\nlevel = "warning"\n')
    logging = load_config(path, env={}).settings.logging
    assert (logging.format, logging.level) == ("json", "warning")
    env = {"GNOMON_LOGGING_FORMAT": "text", "GNOMON_LOGGING_LEVEL": "DEBUG"}
    logging = load_config(path, env=env).settings.logging
    assert (logging.format, logging.level) == ("text", "debug")


def test_unknown_logging_format_is_a_problem_naming_the_key(write_config: WriteConfig) -> None:
    path = write_config(CONFIG + '\n[logging]\nformat = "xml"\n')
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, env={})
    assert [p.field for p in caught.value.problems] == ["logging.format"]


def test_triggers_may_use_the_apis_key_names_too(write_config: WriteConfig) -> None:
    path = write_config(
        """
        [[jobs]]
        id = "api-spelling"
        command = ["true"]
        trigger = { trigger_type = "cron", cron_expression = "@daily", timezone = "UTC" }
        """
    )
    job = next(j for j in load_config(path, env={}).jobs if j.id == "api-spelling")
    assert job.trigger == {"type": "cron", "expression": "0 0 0 * * * *", "timezone": "UTC"}


def test_unknown_gnomon_variables_are_problems_like_unknown_keys(config_path: Path) -> None:
    env = {
        "GNOMON_SERVER_BND": "0.0.0.0:80",
        "GNOMON_STORE_URL": "sqlite:///x.db",  # a setting's override
        "GNOMON_SMTP_HOST": "mail.example.com",
        "GNOMON_SMTP_FROM": "gnomon@example.com",  # [smtp] from, by its alias
        "GNOMON_CONFIG": str(config_path),
        "GNOMON_DATA_DIR": "elsewhere",
        "GNOMON_ADMIN_PASSWORD": "x",
        "GNOMON_TEST_PG_URL": "postgresql://",
        "GNOMON_BENCH_PG_URL": "postgresql://",
        "NOT_GNOMON_AT_ALL": "1",
    }
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config_path, env)
    assert [str(p) for p in caught.value.problems] == [
        "GNOMON_SERVER_BND: unknown gnomon environment variable; did you mean GNOMON_SERVER_BIND?"
    ]
    del env["GNOMON_SERVER_BND"]
    assert load_config(config_path, env).store_url == "sqlite:///x.db"


def test_unknown_variables_are_reported_with_the_files_other_problems(
    write_config: WriteConfig,
) -> None:
    path = write_config("[scheduler]\npool_sise = 3\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, {"GNOMON_LOGGING_LEVL": "debug"})
    assert [p.field for p in caught.value.problems] == [
        "scheduler.pool_sise",
        "GNOMON_LOGGING_LEVL",
    ]


RETRIES = """
[scheduler]
retries = 2
retry_backoff = "1m"
run_retention_days = 7

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
retry_on = ["failed", "interrupted"]
retry_backoff_max = "10m"
alert_if_no_success_within = "26h"

[[jobs]]
id = "never"
command = ["true"]
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
retry_on = []
"""


def test_retries_and_overdue_come_from_the_job_with_the_scheduler_defaults(
    write_config: WriteConfig,
) -> None:
    jobs = {d.id: d for d in load_config(write_config(RETRIES), env={}).jobs}
    nightly = jobs["nightly"]
    assert nightly.retry == RetryPolicy(
        retries=2,
        backoff=60.0,
        backoff_max=600.0,
        on=frozenset({RunStatus.FAILED, RunStatus.INTERRUPTED}),
    )
    assert nightly.overdue_after == 26 * 3600
    assert jobs["never"].retry.on == frozenset()  # retries nothing, though [scheduler] says 2


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("retry_on = []", 'retry_on = ["missed"]', "jobs[1].retry_on[0]", "Input should be"),
        ('retry_backoff = "1m"', 'retry_backoff = "soon"', "scheduler.retry_backoff", "duration"),
        (
            'alert_if_no_success_within = "26h"',
            'alert_if_no_success_within = "7d"',
            "jobs[0].alert_if_no_success_within",
            "shorter than [scheduler] run_retention_days (7 days)",
        ),
    ],
)
def test_bad_retry_and_overdue_settings_name_their_key(
    write_config: WriteConfig, old: str, new: str, field: str, message: str
) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(RETRIES.replace(old, new, 1)), env={})
    assert [p.field for p in info.value.problems] == [field]
    assert message in info.value.problems[0].message
