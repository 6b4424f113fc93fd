"""``gnomon cron EXPR``: explain a cron expression and preview its next fire times."""

from __future__ import annotations

import json
from datetime import datetime

import click

from gnomon.cli.failures import echo_error_json, message_code
from gnomon.cli.options import config_option, config_path, report
from gnomon.config import DEFAULT_TIMEZONE, load_config
from gnomon.domain import utcnow
from gnomon.errors import ConfigInvalid, Problem, TriggerInvalid
from gnomon.triggers import CronTrigger, Trigger, parse_trigger
from gnomon.triggers.timezones import format_datetime, parse_datetime


@click.command("cron")
@click.argument("expression", nargs=-1, required=True)
@click.option(
    "--count",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="How many fire times to show.",
)
@click.option(
    "--tz",
    "timezone",
    default=None,
    help=f"IANA timezone (default: the configuration's [scheduler] timezone, else "
    f"{DEFAULT_TIMEZONE}).",
)
@click.option(
    "--after",
    default=None,
    help="Preview from this time (ISO 8601; without an offset it is in --tz) instead of now.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@config_option
def cron_command(
    expression: tuple[str, ...],
    count: int,
    timezone: str | None,
    after: str | None,
    as_json: bool,
) -> None:
    """Explain the cron EXPRESSION and list its next fire times.

    EXPRESSION has 5 fields (minute hour day-of-month month day-of-week), 6 (second first) or
    7 (year last), or is a macro such as @daily. Quote it: gnomon cron "0 30 2 * * mon-fri".
    When both day-of-month and day-of-week are restricted, a day matching either one fires.
    """
    now = utcnow()
    data = {"trigger_type": "cron", "cron_expression": " ".join(expression), "timezone": timezone}
    try:
        default = DEFAULT_TIMEZONE if timezone else _configured_timezone()
        trigger = parse_trigger(data, default_timezone=default, now=now)
        start = now if after is None else _start(after, trigger)
    except TriggerInvalid as exc:
        if as_json:
            echo_error_json(message_code(exc), exc.summary, 2, details=exc.problems)
        else:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
        raise click.exceptions.Exit(2) from None
    assert isinstance(trigger, CronTrigger)
    times = [format_datetime(t, trigger.timezone) for t in trigger.preview(start, count)]
    if as_json:
        payload = {
            "expression": trigger.expression,
            "description": trigger.describe("en"),
            "timezone": trigger.timezone.key,
            "next_run_times": times,
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"expression:  {trigger.expression}")
    click.echo(f"description: {trigger.describe('en')}")
    click.echo(f"timezone:    {trigger.timezone.key}")
    click.echo("next fire time:" if len(times) == 1 else f"next {len(times)} fire times:")
    for shown in times:
        click.echo(f"  {shown}")


def _configured_timezone() -> str:
    """[scheduler] timezone of the configuration (--config, $GNOMON_CONFIG or ./gnomon.toml,
    and $GNOMON_SCHEDULER_TIMEZONE), as the scheduler would use it; built-in without one."""
    try:
        return load_config(config_path()).settings.scheduler.timezone
    except ConfigInvalid as exc:
        report(exc)


def _start(text: str, trigger: Trigger) -> datetime:
    try:
        return parse_datetime(text, trigger.timezone)
    except ValueError as exc:
        raise TriggerInvalid([Problem("--after", str(exc))]) from None
