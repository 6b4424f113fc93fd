"""The access log: one INFO line per request answered, on logger `gnomon.access`.

Written by the app rather than by gunicorn, because the app knows the request id (the one the
client sent when well-formed, else generated; returned as X-Request-ID) and the user. The line
has the configured format like every other (text, or JSON with method, path, status,
duration_ms, request_id, user, user_id and client as keys).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from gnomon.api.access import SessionUser
from gnomon.api.envelope import request_id
from gnomon.domain import User

log = logging.getLogger("gnomon.access")


def init_request_log(app: Flask) -> None:
    """Log every request `app` answers (its first before-request hook starts the clock)."""
    app.before_request(_start_clock)
    app.after_request(_log_request)


def _start_clock() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    if not log.isEnabledFor(logging.INFO):
        return response
    started = g.get("request_started")
    duration_ms = None if started is None else (time.perf_counter() - started) * 1000
    user = _user()
    path = request.path
    if request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    rid = request_id()
    name = user.username if user else "-"
    took = "" if duration_ms is None else f" {duration_ms:.1f}ms"
    log.info(
        "%s %s %s%s request_id=%s user=%s",
        request.method,
        path,
        response.status_code,
        took,
        rid,
        name,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": None if duration_ms is None else round(duration_ms, 3),
            "request_id": rid,
            "user": user.username if user else None,
            "user_id": user.id if user else None,
            "client": request.remote_addr,
        },
    )
    return response


def _user() -> User | None:
    """The user this request was made as, if the request established it: a request that never
    asked who is calling (health checks, static files) is not made to load a session for it."""
    token_user = g.get("token_user")
    if isinstance(token_user, User):
        return token_user
    # Flask-Login keeps the user it loaded (or logged in) for this request here.
    session_user = g.get("_login_user")
    return session_user.user if isinstance(session_user, SessionUser) else None
