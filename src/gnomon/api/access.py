"""Who is asking and whether they may: bearer tokens, session users, CSRF, permissions (§5.2)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import g, request
from flask_login import current_user  # type: ignore[import-untyped]
from flask_wtf.csrf import validate_csrf  # type: ignore[import-untyped]
from itsdangerous import SignatureExpired
from wtforms import ValidationError  # type: ignore[import-untyped]

from gnomon.api.errors import (
    AuthenticationRequired,
    CsrfExpired,
    CsrfInvalid,
    CsrfMissing,
    TokenInvalid,
)
from gnomon.api.state import state
from gnomon.domain import User
from gnomon.errors import AccountDisabled, PermissionDenied
from gnomon.services.views import Actor

CSRF_HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
VIEW = "view"
ADMIN = "admin"

P = ParamSpec("P")
R = TypeVar("R")


class SessionUser:
    """A store user as Flask-Login sees it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    def get_id(self) -> str:
        return str(self.user.id)


def bearer_secret() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None without one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def token_account() -> User | None:
    """The user of this request's bearer token (None without one); raises TokenInvalid."""
    if "token_user" in g:
        found: User = g.token_user
        return found
    secret = bearer_secret()
    if secret is None:
        return None
    user = state().tokens.authenticate(secret)
    if user is None:
        raise TokenInvalid()
    g.token_user = user
    return user


def current_account() -> User | None:
    """The user of this request (bearer token first, else the session), or None.

    Raises TokenInvalid for a bearer token that is unknown, revoked or expired.
    """
    user = token_account()
    if user is not None:
        return user
    found = current_user._get_current_object()
    return found.user if isinstance(found, SessionUser) else None


def user_document(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "permissions": sorted(user.permissions),
    }


def actor() -> Actor:
    """The acting user of this request, for services' audit entries and manual runs."""
    user = current_account()
    if user is None:
        raise AuthenticationRequired()
    return Actor(name=user.username, user_id=user.id, client=request.remote_addr)


def check_csrf() -> None:
    """Check the X-CSRFToken header against the session; a token anywhere else never counts.

    Raises CsrfMissing, CsrfExpired or CsrfInvalid.
    """
    token = request.headers.get(CSRF_HEADER)
    if not token:
        raise CsrfMissing("the X-CSRFToken header is missing")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        if isinstance(exc.__cause__, SignatureExpired):
            raise CsrfExpired("the CSRF token has expired") from None
        raise CsrfInvalid("the CSRF token is invalid") from None
    _check_origin()


def _check_origin() -> None:
    # Over HTTPS a browser's Origin/Referer must name this server. Clients that send neither
    # (scripts) are not browsers and cannot be driven cross-site, so they pass.
    if not request.is_secure:
        return
    source = request.headers.get("Origin") or request.referrer
    if not source:
        return
    given = _origin(source)
    if given is None or given != _origin(request.host_url):
        raise CsrfInvalid("the request comes from another origin")


def _origin(url: str) -> tuple[str, str | None, int | None] | None:
    """(scheme, host, port) of `url`, or None when it has no readable port or host
    ("https://host:8080.evil.example", "https://[::1"), which is no origin of ours."""
    try:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname, parts.port
    except ValueError:
        return None


def check_access(permission: str | None) -> User:
    """Authentication, then CSRF for session writes, then the permission (SPEC §5.2 order).

    Bearer requests need no CSRF token: a browser never adds an Authorization header on its own,
    so a cross-site page cannot forge one. Raises AuthenticationRequired, TokenInvalid,
    AccountDisabled, a CsrfFailed error or PermissionDenied.
    """
    user = current_account()
    if user is None:
        raise AuthenticationRequired()
    if "token_user" in g:
        if user.disabled:
            raise AccountDisabled(user.username)
    elif request.method in UNSAFE_METHODS:
        check_csrf()
    if permission is not None and permission not in user.permissions:
        raise PermissionDenied(permission)
    return user


def require(permission: str | None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: login needed, CSRF for writes, and `permission` (None: login only)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            # The request's reads (token, user, lease, job, runs) share one read transaction,
            # begun here, so the credentials are read afresh for every request.
            with state().runtime.store.reading():
                check_access(permission)
                return view(*args, **kwargs)

        return guarded

    return decorate
