"""The `gnomon` command line: one module per noun, wired into one click group here."""

from __future__ import annotations

import click

from gnomon import __version__
from gnomon.cli.config import config_group
from gnomon.cli.cron import cron_command
from gnomon.cli.db import db_group
from gnomon.cli.jobs import jobs_group
from gnomon.cli.runs import runs_group
from gnomon.cli.scheduler import scheduler_command
from gnomon.cli.serve import api_command, serve_command
from gnomon.cli.tokens import tokens_group
from gnomon.cli.users import users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gnomon")
def cli() -> None:
    """gnomon: a self-hosted job scheduler."""


for command in (
    serve_command,
    api_command,
    scheduler_command,
    jobs_group,
    runs_group,
    cron_command,
    config_group,
    db_group,
    users_group,
    tokens_group,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="gnomon")
