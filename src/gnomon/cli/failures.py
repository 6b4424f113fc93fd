"""A failed command's answer for scripts: with --json, the API's error envelope on stdout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from gnomon import errors as e

#: The API's message_code of each error class with one of its own (a subclass without one takes
#: its base's). gnomon.api.errors.ERROR_TABLE is the authority, and a test holds this copy to
#: it: the CLI does not import it, as that loads the whole HTTP layer.
_CODES: dict[type[BaseException], str] = {
    e.ConfigInvalid: "CONFIG_INVALID",
    e.ValidationFailed: "VALIDATION_ERROR",
    e.JobNotFound: "JOB_NOT_FOUND",
    e.RunNotFound: "RUN_NOT_FOUND",
    e.UserNotFound: "USER_NOT_FOUND",
    e.TokenNotFound: "TOKEN_NOT_FOUND",
    e.NotFound: "NOT_FOUND",
    e.SchedulerNotRunning: "SCHEDULER_NOT_RUNNING",
    e.JobAlreadyRunning: "JOB_ALREADY_RUNNING",
    e.JobHasNoNextRun: "JOB_HAS_NO_NEXT_RUN",
    e.JobExists: "JOB_EXISTS",
    e.JobChanged: "JOB_CHANGED",
    e.RunNotCancellable: "RUN_NOT_CANCELLABLE",
    e.UserExists: "USER_EXISTS",
    e.LastAdmin: "LAST_ADMIN",
    e.Conflict: "CONFLICT",
    e.JobNotEditable: "JOB_NOT_EDITABLE",
    e.InvalidCredentials: "INVALID_CREDENTIALS",
    e.AccountDisabled: "ACCOUNT_DISABLED",
    e.PermissionDenied: "PERMISSION_DENIED",
    e.LoginThrottled: "RATE_LIMITED",
    e.LoginBusy: "LOGIN_BUSY",
    e.StoreNotReady: "STORE_NOT_READY",
    e.StoreError: "STORE_UNAVAILABLE",
}
#: The code of a command line click refused (unknown option, bad value, missing argument).
USAGE_ERROR = "USAGE_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"


def message_code(exc: BaseException) -> str:
    """The API's message_code for a gnomon error (INTERNAL_ERROR for anything else)."""
    for cls in type(exc).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return INTERNAL_ERROR


def wants_json() -> bool:
    """Whether the running command was given --json."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def echo_error_json(
    code: str,
    message: str,
    exit_code: int,
    *,
    details: list[e.Problem] | None = None,
    context: dict[str, Any] | None = None,
    command: str | None = None,
) -> None:
    """Print the error envelope: the API's keys that mean something here (`success`, `error`,
    `message_code`, `message`, `timestamp`, `details` for invalid input, `context`), with the
    command and its exit code in `context`."""
    ctx = click.get_current_context(silent=True)
    body: dict[str, Any] = {
        "success": False,
        "error": True,
        "message_code": code,
        "message": message,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if details is not None:
        body["details"] = [{"field": p.field, "message": p.message} for p in details]
    body["context"] = {
        "command": command or (ctx.command_path if ctx is not None else "gnomon"),
        "exit_code": exit_code,
        **(context or {}),
    }
    click.echo(json.dumps(body, indent=2, ensure_ascii=False, default=str))


def error_context(exc: BaseException) -> dict[str, Any]:
    """Facts a script can act on, as the API gives them, and the candidates of an ambiguous id."""
    if isinstance(exc, e.JobAlreadyRunning):
        return {"job_id": exc.job_id, "run_id": exc.run_id, "max_instances": exc.max_instances}
    if isinstance(exc, e.JobNotEditable | e.JobHasNoNextRun):
        return {"job_id": exc.job_id}
    if isinstance(exc, e.RunIdAmbiguous):
        return {"candidates": exc.candidates, "more": exc.more}
    return {}
