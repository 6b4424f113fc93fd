"""The response envelope of every API answer (SPEC §5.1), request ids and response language."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, g, has_request_context, jsonify, request
from flask_login import current_user  # type: ignore[import-untyped]

from gnomon.api.messages import LANGUAGES, success_message
from gnomon.api.state import state
from gnomon.errors import Problem

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def timestamp() -> str:
    """Now, in UTC ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def request_id() -> str:
    """The client's X-Request-ID when it is well-formed, else a generated one; fixed per request."""
    found = g.get("request_id")
    if isinstance(found, str):
        return found
    given = request.headers.get(REQUEST_ID_HEADER, "")
    value = given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex
    g.request_id = value
    return value


def add_request_id(response: Response) -> Response:
    """after_request hook: every response carries X-Request-ID."""
    if has_request_context():
        response.headers[REQUEST_ID_HEADER] = request_id()
    return response


def language() -> str:
    """`zh` or `en`: the client's Accept-Language preference, else the server's language."""
    found = g.get("language")
    if isinstance(found, str):
        return found
    preferred = request.accept_languages.best_match(LANGUAGES)
    value = preferred or state().settings.language
    g.language = value
    return value


def success(data: Any = None, message: str = "ok", status: int = 200) -> Response:
    """The success envelope around `data`; `message` is a key of SUCCESS_MESSAGES."""
    response = jsonify(
        {
            "success": True,
            "error": False,
            "message": success_message(message, language()),
            "timestamp": timestamp(),
            "data": data,
        }
    )
    response.status_code = status
    return response


def current_user_id() -> int | None:
    """The logged-in user's id, or None (also when loading the user itself failed)."""
    token_user = g.get("token_user")
    if token_user is not None:
        return int(token_user.id)
    try:
        if current_user.is_authenticated:
            return int(current_user.get_id())
    except Exception:  # an error envelope must never fail because of the user lookup
        return None
    return None


def error_body(
    *,
    status: int,
    code: str,
    category: str,
    severity: str,
    message: str,
    recoverable: bool,
    suggestions: list[str],
    error_id: str,
    details: list[Problem] | None = None,
    context: dict[str, Any] | None = None,
) -> Response:
    """The error envelope; `details` only for validation errors, `context` adds to the standard
    request context."""
    body: dict[str, Any] = {
        "success": False,
        "error": True,
        "error_id": error_id,
        "category": category,
        "severity": severity,
        "message_code": code,
        "message": message,
        "timestamp": timestamp(),
        "recoverable": recoverable,
        "suggestions": suggestions,
    }
    if details is not None:
        body["details"] = [{"field": p.field, "message": p.message} for p in details]
    body["context"] = {
        "request_id": request_id(),
        "user_id": current_user_id(),
        "url": request.url,
        "method": request.method,
        **(context or {}),
    }
    response = jsonify(body)
    response.status_code = status
    return response
