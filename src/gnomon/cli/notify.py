"""`gnomon notify test CHANNEL`: send a test notification now and say how it went."""

from __future__ import annotations

import os
import sys

import click

from gnomon.cli.options import (
    EXIT_FAILURE,
    config_option,
    config_path,
    echo_json,
    fail,
    handle_errors,
    json_option,
)
from gnomon.config import load_config
from gnomon.services.notifications import send_test


@click.group("notify")
def notify_group() -> None:
    """Work with notification channels."""


@notify_group.command("test")
@click.argument("channel")
@config_option
@json_option
@handle_errors
def test_channel(channel: str, as_json: bool) -> None:
    """Send a `test` event to CHANNEL straight away (not through the outbox); exit non-zero
    when it is not delivered."""
    notifications = load_config(config_path()).notifications
    attempt = send_test(notifications, channel, os.environ)
    kind = notifications.channels[channel].kind.value
    if as_json:
        echo_json(
            {
                "channel": channel,
                "type": kind,
                "delivered": attempt.ok,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            }
        )
        if not attempt.ok:
            sys.exit(EXIT_FAILURE)
        return
    if not attempt.ok:
        fail(f"{channel}: not delivered: {attempt.error}", EXIT_FAILURE)
    code = f" ({_code(kind, attempt.status_code)})" if attempt.status_code else ""
    click.echo(f"{channel}: delivered{code} in {attempt.duration_ms} ms")


def _code(kind: str, status: int | None) -> str:
    return f"SMTP {status}" if kind == "email" else f"HTTP {status}"
