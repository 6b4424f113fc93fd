"""What every command shares: --config, --json, building the runtime, and turning errors into
messages and exit codes."""

from __future__ import annotations

import functools
import json
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import click

from gnomon.cli.failures import echo_error_json, error_context, message_code, wants_json
from gnomon.errors import (
    UPGRADE_REMEDY,
    Conflict,
    GnomonError,
    NotFound,
    Problem,
    StoreNotReady,
    StoreSchemaNewer,
    ValidationFailed,
)
from gnomon.logs import configure_logging
from gnomon.services.views import Actor

# Imported when used: `gnomon --help` loads this module but neither the settings nor the store.
if TYPE_CHECKING:
    from gnomon.config import LoggingSettings
    from gnomon.services.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

# Who the audit trail names for changes made with the command line.
CLI_ACTOR = Actor("cli")


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # ctx.meta is shared by a command's context and its parents', so `gnomon --config X jobs
    # list` and `gnomon jobs list --config X` both land here; the later (the subcommand's) wins.
    if value is not None:
        ctx.meta["gnomon.config"] = value


def config_option(func: Callable[P, R]) -> Callable[P, R]:
    """`--config PATH` (else GNOMON_CONFIG, else ./gnomon.toml), kept in the click context.

    Given to the `gnomon` group and to every command that reads the configuration, so it may
    come before or after the subcommand."""
    return click.option(
        "--config",
        "-c",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_remember_config,
        is_eager=True,
        help="Configuration file (default: $GNOMON_CONFIG, else ./gnomon.toml).",
    )(func)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

log_level_option = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Lowest level logged (default: [logging] level, else info).",
)


def start_logging(settings: LoggingSettings, log_level: str | None) -> str:
    """Configure logging as `[logging]` says, `--log-level` winning; returns the level."""
    level = log_level or settings.level
    configure_logging(level, settings.format)
    return level


def config_path() -> str | None:
    value = click.get_current_context().meta.get("gnomon.config")
    return str(value) if value is not None else None


def open_runtime() -> Runtime:
    """The runtime for the configured store, ready for use: a store nothing has started on yet
    is created with the declared jobs, as the first start would (said on stderr); one at an
    older schema revision is refused, naming the exact command that migrates it."""
    from gnomon.services.runtime import Runtime

    runtime = Runtime.from_config_file(config_path())
    try:
        first = runtime.ready_for_commands()
    except StoreSchemaNewer:
        raise
    except StoreNotReady as exc:
        path = config_path()
        if path is None or exc.remedy != UPGRADE_REMEDY:
            raise
        remedy = f"run 'gnomon db upgrade --config {shlex.quote(path)}'"
        raise StoreNotReady(exc.detail, remedy) from None
    if first.created_revision is not None:
        note(f"created the store {runtime.config.store_url} (schema {first.created_revision})")
    if first.registered:
        note(f"registered the declared jobs: {', '.join(first.registered)}")
    return runtime


def note(message: str) -> None:
    """Tell the person at the terminal what a command did on the side (stderr: never in the
    way of output a script reads)."""
    click.echo(f"note: {message}", err=True)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print gnomon errors as one clear message per problem (with --json, as the error envelope
    on stdout) and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GnomonError as exc:
            report(exc)

    return wrapper


def exit_code(exc: GnomonError) -> int:
    if isinstance(exc, ValidationFailed):
        return EXIT_INVALID
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, Conflict):
        return EXIT_CONFLICT
    return EXIT_FAILURE


def report(exc: GnomonError) -> NoReturn:
    """Say what went wrong, as text on stderr or (--json) as JSON on stdout, and exit."""
    code = exit_code(exc)
    if wants_json():
        message = exc.summary if isinstance(exc, ValidationFailed) else str(exc)
        details = exc.problems if isinstance(exc, ValidationFailed) else None
        echo_error_json(
            message_code(exc), message, code, details=details, context=error_context(exc)
        )
        sys.exit(code)
    if isinstance(exc, ValidationFailed):
        fail(exc.summary, code, [str(p) for p in exc.problems])
    fail(str(exc), code)


def fail(message: str, code: int, details: list[str] | None = None) -> NoReturn:
    """Say `message` (and each of `details`) and exit with `code`; with --json as the error
    envelope on stdout, its message_code given by the exit code."""
    if wants_json():
        problems = [Problem("", line) for line in details] if details is not None else None
        echo_error_json(_CODE_OF_EXIT.get(code, "FAILED"), message, code, details=problems)
        sys.exit(code)
    click.echo(f"error: {message}", err=True)
    for line in details or []:
        click.echo(f"  - {line}", err=True)
    sys.exit(code)


_CODE_OF_EXIT = {
    EXIT_INVALID: "VALIDATION_ERROR",
    EXIT_NOT_FOUND: "NOT_FOUND",
    EXIT_CONFLICT: "CONFLICT",
}


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def echo_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table for people."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def without_password(url: str) -> str:
    """`url` as it may be shown: its password, if any, replaced by ***."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user + ':***@' if user else '***@'}{host}"
