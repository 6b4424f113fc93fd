"""The `gnomon` command line: one module per noun, wired into one click group here."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from gnomon import __version__
from gnomon.cli.failures import USAGE_ERROR, echo_error_json
from gnomon.cli.options import config_option

# Each command's module is imported only when that command runs (or help lists it), so that
# `gnomon scheduler` does not import Flask, gunicorn and the HTTP API it never uses.
COMMANDS = {
    "serve": "gnomon.cli.serve:serve_command",
    "api": "gnomon.cli.serve:api_command",
    "scheduler": "gnomon.cli.scheduler:scheduler_command",
    "worker": "gnomon.cli.worker:worker_command",
    "jobs": "gnomon.cli.jobs:jobs_group",
    "runs": "gnomon.cli.runs:runs_group",
    "cron": "gnomon.cli.cron:cron_command",
    "config": "gnomon.cli.config:config_group",
    "db": "gnomon.cli.db:db_group",
    "notify": "gnomon.cli.notify:notify_group",
    "users": "gnomon.cli.users:users_group",
    "tokens": "gnomon.cli.tokens:tokens_group",
    "import": "gnomon.cli.imports:import_group",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are given as "module:attribute" and imported on use."""

    def __init__(self, *args: Any, commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        """As click's, but a command line refused with --json in it is answered with the error
        envelope on stdout, as every other failure of a --json command is."""
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv or not kwargs.get("standalone_mode", True):
            return super().main(argv, *rest, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(argv, *rest, **kwargs)
        except click.ClickException as exc:
            where = exc.ctx if isinstance(exc, click.UsageError) else None
            command = where.command_path if where is not None else None
            echo_error_json(USAGE_ERROR, exc.format_message(), exc.exit_code, command=command)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        # Without standalone mode click returns what the command returned, or the code it
        # exited with.
        sys.exit(result if isinstance(result, int) else 0)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, _, name = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="gnomon")
@config_option
def cli() -> None:
    """gnomon: a self-hosted job scheduler."""


def main() -> None:
    cli(prog_name="gnomon")
