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


def test_gunicorn_believes_no_forwarded_header_on_its_own() -> None:
    # Only server.trusted_proxies (the app's ProxyFix) decides; gunicorn would otherwise take
    # the scheme from X-Forwarded-Proto of any local peer.
    from gnomon.cli.serve import GnomonServer

    server = GnomonServer(
        None,
        bind="127.0.0.1:0",
        workers=1,
        with_scheduler=False,
        shutdown_grace=1.0,
        log_level="info",
    )
    assert server.cfg.forwarded_allow_ips == []
