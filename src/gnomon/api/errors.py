"""The one table from errors to HTTP: status, message_code, category, severity (SPEC §5.1).

Services raise gnomon errors and know nothing of HTTP; this module turns every exception that
leaves a view (and every framework error: unknown route, 405, 413 …) into the error envelope.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from gnomon import errors as e
from gnomon.api.envelope import error_body, language
from gnomon.api.messages import error_message, suggestions

log = logging.getLogger(__name__)


# --- errors only the HTTP layer raises ---------------------------------------------------------


class AuthenticationRequired(e.AuthError):
    def __init__(self) -> None:
        super().__init__("log in first")


class TokenInvalid(e.AuthError):
    """A bearer token that is unknown, revoked or expired."""

    def __init__(self) -> None:
        super().__init__("the API token is unknown, revoked or expired")


class CsrfFailed(e.AuthError):
    """The X-CSRFToken header of a session request is missing, wrong or stale."""


class CsrfMissing(CsrfFailed):
    pass


class CsrfInvalid(CsrfFailed):
    pass


class CsrfExpired(CsrfFailed):
    pass


class InvalidJson(e.GnomonError, ValueError):
    """A request body that does not parse as JSON, nests deeper than the API reads, or is not
    Unicode text.

    `nesting`: the depth allowed when that was the fault, else None; `reason` overrides the
    words for the fault.
    """

    def __init__(self, nesting: int | None = None, reason: str | None = None) -> None:
        self.nesting = nesting
        if reason is None:
            reason = "it does not parse" if nesting is None else f"it nests deeper than {nesting}"
        self.reason = reason
        super().__init__(f"the request body is not valid JSON: {self.reason}")


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    code: str
    category: str  # validation | business | authentication | authorization | security | system
    severity: str  # low | medium | high | critical
    recoverable: bool = True


def _spec(
    status: int, code: str, category: str, severity: str, recoverable: bool = True
) -> ErrorSpec:
    return ErrorSpec(status, code, category, severity, recoverable)


INTERNAL = _spec(500, "INTERNAL_ERROR", "system", "critical", recoverable=False)

# Looked up along the exception's MRO, so a subclass is matched before its base.
ERROR_TABLE: Mapping[type[BaseException], ErrorSpec] = {
    e.ConfigInvalid: _spec(400, "CONFIG_INVALID", "validation", "medium"),
    e.ValidationFailed: _spec(400, "VALIDATION_ERROR", "validation", "low"),
    InvalidJson: _spec(400, "INVALID_JSON", "validation", "low"),
    e.JobNotFound: _spec(404, "JOB_NOT_FOUND", "business", "low"),
    e.RunNotFound: _spec(404, "RUN_NOT_FOUND", "business", "low"),
    e.UserNotFound: _spec(404, "USER_NOT_FOUND", "business", "low"),
    e.TokenNotFound: _spec(404, "TOKEN_NOT_FOUND", "business", "low"),
    e.NotFound: _spec(404, "NOT_FOUND", "business", "low"),
    e.SchedulerNotRunning: _spec(409, "SCHEDULER_NOT_RUNNING", "system", "high"),
    e.JobAlreadyRunning: _spec(409, "JOB_ALREADY_RUNNING", "business", "low"),
    e.JobHasNoNextRun: _spec(409, "JOB_HAS_NO_NEXT_RUN", "business", "low"),
    e.JobExists: _spec(409, "JOB_EXISTS", "business", "low"),
    e.JobChanged: _spec(409, "JOB_CHANGED", "business", "low"),
    e.RunNotCancellable: _spec(409, "RUN_NOT_CANCELLABLE", "business", "low"),
    e.UserExists: _spec(409, "USER_EXISTS", "business", "low"),
    e.LastAdmin: _spec(409, "LAST_ADMIN", "business", "medium"),
    e.Conflict: _spec(409, "CONFLICT", "business", "low"),
    e.JobNotEditable: _spec(403, "JOB_NOT_EDITABLE", "business", "low", recoverable=False),
    AuthenticationRequired: _spec(401, "AUTHENTICATION_REQUIRED", "authentication", "low"),
    e.InvalidCredentials: _spec(401, "INVALID_CREDENTIALS", "authentication", "medium"),
    TokenInvalid: _spec(401, "TOKEN_INVALID", "authentication", "medium"),
    e.AccountDisabled: _spec(403, "ACCOUNT_DISABLED", "authentication", "medium", False),
    e.PermissionDenied: _spec(403, "PERMISSION_DENIED", "authorization", "medium", False),
    CsrfMissing: _spec(403, "CSRF_MISSING", "security", "medium"),
    CsrfInvalid: _spec(403, "CSRF_INVALID", "security", "medium"),
    CsrfExpired: _spec(403, "CSRF_EXPIRED", "security", "low"),
    e.LoginThrottled: _spec(429, "RATE_LIMITED", "security", "medium"),
    e.LoginBusy: _spec(503, "LOGIN_BUSY", "security", "medium"),
    e.StoreNotReady: _spec(503, "STORE_NOT_READY", "system", "critical"),
    e.StoreError: _spec(503, "STORE_UNAVAILABLE", "system", "critical"),
}

# Framework errors (werkzeug HTTPExceptions), by status.
HTTP_TABLE: Mapping[int, ErrorSpec] = {
    400: _spec(400, "BAD_REQUEST", "validation", "low"),
    404: _spec(404, "NOT_FOUND", "validation", "low"),
    405: _spec(405, "METHOD_NOT_ALLOWED", "validation", "low"),
    413: _spec(413, "PAYLOAD_TOO_LARGE", "validation", "low"),
    415: _spec(415, "UNSUPPORTED_MEDIA_TYPE", "validation", "low"),
    429: _spec(429, "RATE_LIMITED", "security", "medium"),
}


def spec_for(exc: BaseException) -> ErrorSpec:
    """The table row for an exception; anything unknown is an internal error."""
    if isinstance(exc, HTTPException):
        return HTTP_TABLE.get(exc.code or 500, INTERNAL)
    for cls in type(exc).__mro__:
        found = ERROR_TABLE.get(cls)
        if found is not None:
            return found
    return INTERNAL


def _context(exc: BaseException) -> dict[str, Any]:
    """Facts a client can act on, beyond the standard request context."""
    if isinstance(exc, e.JobAlreadyRunning):
        return {"job_id": exc.job_id, "run_id": exc.run_id, "max_instances": exc.max_instances}
    if isinstance(exc, e.PermissionDenied):
        return {"permission": exc.permission}
    if isinstance(exc, e.JobNotEditable | e.JobHasNoNextRun):
        return {"job_id": exc.job_id}
    return {}


def _params(exc: BaseException) -> dict[str, object]:
    params: dict[str, object] = {k: v for k, v in vars(exc).items() if not k.startswith("_")}
    if isinstance(exc, e.ValidationFailed):
        params["summary"] = "; ".join(str(p) for p in exc.problems)
    return params


def error_response(exc: BaseException) -> Response:
    """The error envelope for `exc`; internal errors are logged with their error_id."""
    spec = spec_for(exc)
    error_id = uuid.uuid4().hex
    if spec is INTERNAL:
        log.error(
            "internal error %s on %s %s", error_id, request.method, request.path, exc_info=exc
        )
    elif spec.category == "system":
        log.warning("%s %s on %s %s: %s", spec.code, error_id, request.method, request.path, exc)
    lang = language()
    response = error_body(
        status=spec.status,
        code=spec.code,
        category=spec.category,
        severity=spec.severity,
        message=error_message(spec.code, lang, {} if spec is INTERNAL else _params(exc)),
        recoverable=spec.recoverable,
        suggestions=suggestions(spec.code, lang),
        error_id=error_id,
        details=exc.problems if isinstance(exc, e.ValidationFailed) else None,
        context=_context(exc),
    )
    if isinstance(exc, HTTPException) and exc.code == 405:
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
    if isinstance(exc, e.LoginThrottled | e.LoginBusy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _handle_http(exc: HTTPException) -> Response | HTTPException:
    if exc.code is not None and exc.code < 400:  # redirects raised by routing pass through
        return exc
    return error_response(exc)


def register_error_handlers(app: Flask) -> None:
    """Every exception leaving a view becomes the error envelope."""
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, error_response)
