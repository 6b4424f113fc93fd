"""`gnomon notify test CHANNEL`: a test event sent at once to real receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from tests.conftest import WriteConfig
from tests.engine.notify.receivers import HttpReceiver, SmtpReceiver

CONFIG = """
[server]
public_url = "https://gnomon.example.com"

[[notifications]]
id = "ops"
type = "webhook"
url = "{hook}"
secret = "${{env:GNOMON_HOOK_SECRET}}"

[[notifications]]
id = "mail"
type = "email"
to = ["ops@example.com"]

[smtp]
host = "127.0.0.1"
port = {smtp}
from = "gnomon@example.com"
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_a_test_event_is_signed_and_delivered_at_once(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GNOMON_HOOK_SECRET", "cli-secret")
    with HttpReceiver().start() as hook:
        path = write_config(CONFIG.format(hook=hook.url, smtp=1))
        code, out = invoke("notify", "test", "ops", "--config", str(path))
        (request,) = hook.requests()
    assert code == 0, out
    assert out.startswith("ops: delivered (HTTP 200) in ")
    body = request.json
    assert body["event"] == "test" and body["run"] is None
    assert body["console_url"] == "https://gnomon.example.com/jobs/gnomon.test"
    expected = "sha256=" + hmac.new(b"cli-secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-gnomon-signature"] == expected
    assert not (tmp_path / "data").exists()  # no store was touched


def test_a_test_email_reaches_the_smtp_server(write_config: WriteConfig) -> None:
    with SmtpReceiver() as mail:
        path = write_config(CONFIG.format(hook="http://127.0.0.1:9/x", smtp=mail.port))
        code, out = invoke("notify", "test", "mail", "--config", str(path), "--json")
        (message,) = mail.messages
    assert code == 0, out
    assert json.loads(out) == {
        "channel": "mail",
        "type": "email",
        "delivered": True,
        "status_code": 250,
        "error": None,
        "duration_ms": json.loads(out)["duration_ms"],
    }
    assert message["Subject"] == "gnomon: test notification"


def test_a_receiver_that_is_down_fails_the_command_saying_why(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNOMON_HOOK_SECRET", "cli-secret")
    hook = HttpReceiver()  # never started: the connection is refused
    path = write_config(CONFIG.format(hook=hook.url, smtp=1))
    code, out = invoke("notify", "test", "ops", "--config", str(path))
    assert code == 1
    assert "ops: not delivered: ConnectError" in out


def test_a_secret_that_cannot_be_resolved_is_named_never_shown(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_HOOK_SECRET", raising=False)
    path = write_config(CONFIG.format(hook="http://127.0.0.1:9/x", smtp=1))
    code, out = invoke("notify", "test", "ops", "--config", str(path))
    assert code == 1
    assert "secret ${env:GNOMON_HOOK_SECRET} is unavailable" in out


def test_an_unknown_channel_is_not_found(write_config: WriteConfig) -> None:
    path = write_config(CONFIG.format(hook="http://127.0.0.1:9/x", smtp=1))
    code, out = invoke("notify", "test", "pager", "--config", str(path))
    assert code == 3
    assert "notification channel 'pager' does not exist" in out


def test_config_check_lists_the_channels_without_their_urls(write_config: WriteConfig) -> None:
    path = write_config(CONFIG.format(hook="https://hooks.example/very-secret-path", smtp=25))
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 0, out
    assert "notifications: ops (webhook)" in out and "notifications: mail (email)" in out
    assert "very-secret-path" not in out
    code, out = invoke("config", "check", "--config", str(path), "--json")
    assert json.loads(out)["notifications"] == ["ops", "mail"]
