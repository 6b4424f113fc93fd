"""`gnomon tokens create|list|revoke` on a real SQLite store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.domain import utcnow
from gnomon.services.runtime import Runtime
from gnomon.services.tokens import hash_token
from tests.conftest import WriteConfig


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
    for args in (["db", "upgrade"], ["users", "create", "ops", "--role", "admin"]):
        result = CliRunner().invoke(
            cli, [*args, "--config", str(path)], input="ops-password\nops-password\n"
        )
        assert result.exit_code == 0, result.output
    return path


def invoke(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    return result.exit_code, result.output


def test_create_prints_the_token_once_with_its_id(config: Path) -> None:
    code, out = invoke(config, "tokens", "create", "--user", "ops", "--name", "deploy")
    assert code == 0, out
    assert "created token 1 for ops (expires: never)" in out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("gnm_")
    runtime = Runtime.from_config_file(config, env={})
    try:
        assert runtime.store.list_tokens()[0].token_hash == hash_token(secret)
    finally:
        runtime.close()
    code, listed = invoke(config, "tokens", "list")
    assert code == 0 and "deploy" in listed and secret not in listed


def test_create_json_with_expiry(config: Path) -> None:
    code, out = invoke(config, "tokens", "create", "--user", "ops", "--expires-in", "3", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["id"] == 1 and data["user"] == "ops" and data["token"].startswith("gnm_")
    assert data["expires_at"] is not None and data["name"] == "cli"


def test_list_json_and_revoke(config: Path) -> None:
    invoke(config, "tokens", "create", "--user", "ops")
    code, out = invoke(config, "tokens", "revoke", "1")
    assert code == 0 and "token 1 (cli) is revoked" in out
    code, out = invoke(config, "tokens", "list", "--json")
    [token] = json.loads(out)
    assert token["revoked_at"] is not None and "token" not in token


def test_unknown_user_and_unknown_token_fail(config: Path) -> None:
    code, out = invoke(config, "tokens", "create", "--user", "nobody")
    assert code == 3 and "user 'nobody' does not exist" in out
    code, out = invoke(config, "tokens", "revoke", "42")
    assert code == 3 and "does not exist" in out


def test_token_max_lifetime_caps_a_token_created_without_expiry(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "\n[server]\ntoken_max_lifetime = 30\n", encoding="utf-8")
    code, out = invoke(config, "tokens", "create", "--user", "ops", "--json")
    assert code == 0, out
    expires = datetime.fromisoformat(json.loads(out)["expires_at"])
    assert timedelta(days=29.99) < expires - utcnow() <= timedelta(days=30)
