"""`gnomon serve` and `gnomon api` options (the servers themselves run in tests/e2e)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gnomon.cli import cli


@pytest.mark.parametrize("command", ["serve", "api"])
@pytest.mark.parametrize("bind", ["nope", "host:", ":80", "127.0.0.1:70000"])
def test_bad_bind_is_refused_before_anything_starts(command: str, bind: str) -> None:
    result = CliRunner().invoke(cli, [command, "--bind", bind])
    assert result.exit_code == 2
    assert "must be HOST:PORT" in result.output


@pytest.mark.parametrize("command", ["serve", "api", "tokens"])
def test_commands_are_registered(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
