"""Notification settings: channels, [smtp], each job's channels, and one problem per bad key."""

from __future__ import annotations

import pytest

from gnomon.alerts import DEFAULT_EVENTS, Channel, ChannelKind, SmtpServer
from gnomon.config import load_config
from gnomon.domain import Event, Route
from gnomon.errors import ConfigInvalid
from tests.conftest import WriteConfig

CONFIG = """
[server]
public_url = "https://gnomon.example.com/"

[scheduler]
timezone = "UTC"
notify = ["ops"]

[smtp]
host = "127.0.0.1"
port = 2525
from = "gnomon@example.com"
starttls = true
username = "gnomon"
password = "${env:SMTP_PASSWORD}"

[[notifications]]
id = "ops"
type = "webhook"
url = "https://hooks.example/x"
secret = "${env:GNOMON_HOOK_SECRET}"

[[notifications]]
id = "chat"
type = "slack"
url = "${file:/run/secrets/slack_url}"
on = ["failed", "recovered"]
give_up_after = "2h"
retry_backoff = 5

[[notifications]]
id = "mail"
type = "email"
to = ["ops@example.com"]

[[jobs]]
id = "default"
command = ["true"]
trigger = { type = "interval", seconds = 5 }

[[jobs]]
id = "own"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
notify = ["chat", "mail"]

[[jobs]]
id = "silent"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
notify = []
"""


def test_channels_smtp_and_each_jobs_routes_are_loaded_with_secrets_left_unresolved(
    write_config: WriteConfig,
) -> None:
    loaded = load_config(write_config(CONFIG), env={})
    notifications = loaded.notifications
    assert notifications.public_url == "https://gnomon.example.com"
    assert notifications.channels["ops"] == Channel(
        "ops",
        ChannelKind.WEBHOOK,
        DEFAULT_EVENTS,
        url="https://hooks.example/x",
        secret="${env:GNOMON_HOOK_SECRET}",
    )
    chat = notifications.channels["chat"]
    assert chat.url == "${file:/run/secrets/slack_url}"
    assert chat.events == {Event.FAILED, Event.RECOVERED}
    assert (chat.give_up_after, chat.retry_backoff, chat.retry_backoff_max) == (7200, 5, 600)
    assert notifications.channels["mail"].to == ("ops@example.com",)
    assert notifications.smtp == SmtpServer(
        "127.0.0.1",
        2525,
        "gnomon@example.com",
        starttls=True,
        username="gnomon",
        password="${env:SMTP_PASSWORD}",
    )
    jobs = {job.id: job for job in loaded.jobs}
    ops = Route("ops", DEFAULT_EVENTS)
    assert jobs["default"].notify == (ops,)
    assert jobs["gnomon.prune_runs"].notify == (ops,)  # shipped jobs get the default too
    assert jobs["own"].notify == (
        Route("chat", frozenset({Event.FAILED, Event.RECOVERED})),
        Route("mail", DEFAULT_EVENTS),
    )
    assert jobs["silent"].notify == ()


def test_without_notifications_nothing_is_told(write_config: WriteConfig) -> None:
    loaded = load_config(write_config("[scheduler]\ntimezone = 'UTC'\n"), env={})
    assert loaded.notifications.channels == {}
    assert loaded.notifications.smtp is None
    assert all(job.notify == () for job in loaded.jobs)


BROKEN = """
[scheduler]
notify = ["ops", "nope"]

[[notifications]]
id = "ops"
type = "webhook"
secret = "${env:1BAD}"
on = ["failed", "exploded"]

[[notifications]]
id = "chat"
type = "slack"
url = "ftp://example.com"
secret = "x"
give_up_after = "soon"

[[notifications]]
id = "chat"
type = "email"
to = ["nobody"]

[[jobs]]
id = "tick"
command = ["true"]
trigger = { type = "interval", seconds = 5 }
notify = ["ops", "ghost"]
"""


def test_cross_checks_name_their_keys(write_config: WriteConfig) -> None:
    path = write_config(
        BROKEN.replace('on = ["failed", "exploded"]\n', "").replace('give_up_after = "soon"\n', "")
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, env={})
    problems = {p.field: p.message for p in info.value.problems}
    assert sorted(problems) == [
        "jobs[0].notify[1]",
        "notifications[0].secret",
        "notifications[0].url",
        "notifications[1].secret",
        "notifications[1].url",
        "notifications[2].id",
        "notifications[2].to",
        "notifications[2].type",
        "scheduler.notify[1]",
    ]
    assert "'nope'" in problems["scheduler.notify[1]"]
    assert "[smtp]" in problems["notifications[2].type"]
    assert "${env:1BAD}" in problems["notifications[0].secret"]


def test_an_unknown_event_and_a_bad_duration_name_their_keys(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_config(write_config(BROKEN), env={})
    problems = {p.field: p.message for p in info.value.problems}
    assert "exploded" in problems["notifications[0].on"]
    assert "'soon'" in problems["notifications[1].give_up_after"]


def test_smtp_settings_come_from_the_environment_too(write_config: WriteConfig) -> None:
    path = write_config(
        '[[notifications]]\nid = "mail"\ntype = "email"\nto = ["ops@example.com"]\n'
    )
    env = {"GNOMON_SMTP_HOST": "mail.internal", "GNOMON_SMTP_FROM": "gnomon@example.com"}
    smtp = load_config(path, env=env).notifications.smtp
    assert smtp is not None and (smtp.host, smtp.port, smtp.sender) == (
        "mail.internal",
        25,
        "gnomon@example.com",
    )
