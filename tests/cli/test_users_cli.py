"""`gnomon users …` on a real SQLite store, seen by an API app of the same store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from gnomon.api import create_app
from gnomon.cli import cli
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, AuthActions, assert_error, assert_ok
from tests.conftest import WriteConfig

PASSWORD = "ops-password"


@pytest.fixture
def config(write_config: WriteConfig) -> Path:
    path = write_config(
        """
        [scheduler]
        timezone = "UTC"

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )
    assert invoke(path, "db", "upgrade")[0] == 0
    code, out = invoke(path, "users", "create", "ops", "--role", "admin", stdin=f"{PASSWORD}\n" * 2)
    assert code == 0, out
    return path


@pytest.fixture
def app(config: Path) -> Iterator[Flask]:
    """The API of another process of the same store (no scheduler)."""
    runtime = Runtime.from_config_file(config, env={})
    yield create_app(runtime)
    runtime.close()


def invoke(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config)], input=stdin)
    return result.exit_code, result.output


def logged_in(app: Flask) -> AuthActions:
    auth = AuthActions(app.test_client())
    assert auth.login("ops", PASSWORD).status_code == 200
    return auth


def test_end_sessions_logs_the_user_out_of_every_running_api(config: Path, app: Flask) -> None:
    auth = logged_in(app)
    code, out = invoke(config, "users", "end-sessions", "ops")
    assert code == 0, out
    assert "every session of ops ended" in out
    assert_error(auth.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert_ok(logged_in(app).get(f"{API}/auth/me"))


def test_end_sessions_of_an_unknown_user_fails(config: Path) -> None:
    code, out = invoke(config, "users", "end-sessions", "nobody")
    assert code == 3
    assert "nobody" in out


def test_disable_and_enable_again_leave_old_sessions_ended(config: Path, app: Flask) -> None:
    auth = logged_in(app)
    assert invoke(config, "users", "disable", "ops")[0] == 0
    assert invoke(config, "users", "disable", "ops", "--enable")[0] == 0
    assert_error(auth.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")


def test_create_reads_the_password_from_stdin(config: Path, app: Flask) -> None:
    code, out = invoke(
        config,
        "users",
        "create",
        "bot",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="bot-password\n",
    )
    assert code == 0, out
    assert "Password" not in out  # no prompt
    auth = AuthActions(app.test_client())
    assert auth.login("bot", "bot-password").status_code == 200


def test_create_prompts_twice_hiding_the_password(config: Path) -> None:
    code, out = invoke(
        config, "users", "create", "eve", "--role", "viewer", stdin="eve-password\n" * 2
    )
    assert code == 0, out
    assert "Password:" in out and "Repeat for confirmation:" in out
    assert "eve-password" not in out


def test_password_and_password_stdin_together_are_refused(config: Path) -> None:
    code, out = invoke(
        config,
        "users",
        "create",
        "x",
        "--role",
        "viewer",
        "--password",
        "pw-pw-pw-pw",
        "--password-stdin",
        stdin="pw-pw-pw-pw\n",
    )
    assert code == 2
    assert "not both" in out


def test_password_option_help_warns_about_ps(config: Path) -> None:
    code, out = invoke(config, "users", "create", "--help")
    assert code == 0 and "ps" in out and "--password-stdin" in out


def test_set_password_from_stdin_ends_sessions(config: Path, app: Flask) -> None:
    auth = logged_in(app)
    code, out = invoke(
        config, "users", "set-password", "ops", "--password-stdin", stdin="ops-password-2\n"
    )
    assert code == 0, out
    assert_error(auth.get(f"{API}/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert AuthActions(app.test_client()).login("ops", "ops-password-2").status_code == 200


def test_cli_changes_are_audited_as_the_cli(config: Path) -> None:
    for args, stdin in [
        (("users", "set-password", "ops", "--password-stdin"), "ops-password-2\n"),
        (("users", "disable", "ops"), None),
        (("users", "disable", "ops", "--enable"), None),
        (("users", "end-sessions", "ops"), None),
        (("tokens", "create", "--user", "ops"), None),
        (("tokens", "revoke", "1"), None),
    ]:
        code, out = invoke(config, *args, stdin=stdin)
        assert code == 0, (args, out)
    runtime = Runtime.from_config_file(config, env={})
    try:
        found = [(e.action, e.actor) for e in reversed(runtime.store.list_audit(limit=50))]
    finally:
        runtime.close()
    assert found == [
        ("jobs.sync", "config"),  # db upgrade registered the declared jobs
        ("user.create", "cli"),
        ("user.set_password", "cli"),
        ("user.disable", "cli"),
        ("user.enable", "cli"),
        ("user.end_sessions", "cli"),
        ("token.create", "cli"),
        ("token.revoke", "cli"),
    ]


def test_set_password_refuses_the_old_password_and_accepts_the_new(
    config: Path, app: Flask
) -> None:
    assert_ok(AuthActions(app.test_client()).login("ops", PASSWORD))
    code, out = invoke(config, "users", "set-password", "ops", stdin="ops-password-2\n" * 2)
    assert code == 0, out
    assert "ops-password-2" not in out  # prompted for, hidden
    old = AuthActions(app.test_client()).login("ops", PASSWORD)
    assert_error(old, 401, "INVALID_CREDENTIALS")
    assert_ok(AuthActions(app.test_client()).login("ops", "ops-password-2"))


def test_disable_refuses_the_login_until_enable(config: Path, app: Flask) -> None:
    assert_ok(AuthActions(app.test_client()).login("ops", PASSWORD))
    code, out = invoke(config, "users", "disable", "ops")
    assert code == 0, out
    refused = AuthActions(app.test_client()).login("ops", PASSWORD)
    assert_error(refused, 403, "ACCOUNT_DISABLED")
    code, out = invoke(config, "users", "disable", "ops", "--enable")
    assert code == 0, out
    assert_ok(AuthActions(app.test_client()).login("ops", PASSWORD))
