"""Session login for people and the console: CSRF token, login, logout, who am I."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, Response, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, login_user, logout_user  # type: ignore[import-untyped]
from flask_wtf.csrf import CSRFProtect, generate_csrf  # type: ignore[import-untyped]

from gnomon.api import schemas as s
from gnomon.api.access import (
    SessionUser,
    actor,
    check_access,
    check_csrf,
    current_account,
    require,
    token_account,
    user_document,
)
from gnomon.api.envelope import success
from gnomon.api.openapi import CSRF_ONLY, PUBLIC, WRITE, document
from gnomon.api.params import object_body
from gnomon.api.state import state
from gnomon.config import ServerSettings
from gnomon.errors import Problem, ValidationFailed
from gnomon.services.sessions import SessionStamp

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

# What a session carries besides Flask-Login's user id (see services.sessions).
GENERATION_KEY = "gnomon_gen"
LOGIN_TIME_KEY = "gnomon_login_at"
SEEN_TIME_KEY = "gnomon_seen_at"
CREDENTIAL_KEYS = ("username", "password")


class _CookieSessions(SecureCookieSessionInterface):
    """Signed cookie sessions whose Secure flag follows `server.cookie_secure`."""

    def __init__(self, cookie_secure: str) -> None:
        self.cookie_secure = cookie_secure

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.cookie_secure == "always":
            return True
        if self.cookie_secure == "never":
            return False
        return has_request_context() and request.is_secure


def init_auth(app: Flask, settings: ServerSettings) -> None:
    """Cookies, Flask-Login and Flask-WTF's CSRF tokens, configured for a JSON API.

    CSRFProtect's own before-request check stays off: `check_access` runs it after the
    authentication check (SPEC §5.2 order) and reads the token from the header only.
    """
    app.config.update(
        SESSION_COOKIE_NAME="gnomon_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The cookie (and its signature) expire when the session has been idle this long; the
        # store-backed checks of services.sessions end it earlier when it is revoked.
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_idle_timeout),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        WTF_CSRF_TIME_LIMIT=3600,
    )
    app.session_interface = _CookieSessions(settings.cookie_secure)
    CSRFProtect(app)
    manager = LoginManager(app)
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    app.register_blueprint(bp)


def _load_user(user_id: str) -> SessionUser | None:
    """The session's user while its session is valid (services.sessions), else None."""
    stamp = _session_stamp(user_id)
    resumed = state().sessions.resume(stamp) if stamp is not None else None
    if resumed is None:
        return None
    user, seen = resumed
    session[SEEN_TIME_KEY] = seen.seen_at
    return SessionUser(user)


def _session_stamp(user_id: str) -> SessionStamp | None:
    generation = session.get(GENERATION_KEY)
    started, seen = session.get(LOGIN_TIME_KEY), session.get(SEEN_TIME_KEY)
    # A session from before generations existed has no stamp: it is over.
    if not user_id.isdecimal() or not isinstance(generation, int):
        return None
    if not isinstance(started, int | float) or not isinstance(seen, int | float):
        return None
    return SessionStamp(int(user_id), generation, float(started), float(seen))


def _start_session(stamp: SessionStamp) -> None:
    session.permanent = True
    session[GENERATION_KEY] = stamp.generation
    session[LOGIN_TIME_KEY] = stamp.started_at
    session[SEEN_TIME_KEY] = stamp.seen_at


def _credentials(body: dict[str, object]) -> tuple[str, str]:
    problems = [Problem(str(k), "unknown key") for k in body if k not in CREDENTIAL_KEYS]
    values = []
    for key in CREDENTIAL_KEYS:
        value = body.get(key)
        if not isinstance(value, str) or not value:
            problems.append(Problem(key, "is required and must be a non-empty string"))
        values.append(value if isinstance(value, str) else "")
    if problems:
        raise ValidationFailed(problems)
    return values[0], values[1]


def _fresh_session() -> None:
    # A new session (and CSRF secret) at every login and logout: no session fixation.
    session.clear()
    g.pop("csrf_token", None)


@bp.get("/csrf-token")
@document(s.CsrfEnvelope, security=PUBLIC, tag="auth")
def csrf_token() -> Response:
    """A CSRF token for X-CSRFToken; sets the session cookie it is bound to."""
    return success({"csrf_token": generate_csrf()})


@bp.post("/login")
@document(
    s.LoginEnvelope,
    errors=(400, 401, 403, 429, 503),
    json=s.LoginInput,
    security=CSRF_ONLY,
    tag="auth",
)
def login() -> Response:
    """{username, password} → {user, csrf_token}. Raises CsrfFailed, ValidationFailed,
    LoginBusy, LoginThrottled, InvalidCredentials, AccountDisabled."""
    check_csrf()
    username, password = _credentials(object_body())
    api = state()
    client = request.remote_addr or ""
    # A hash slot first: when this process is already hashing as many passwords as it may, the
    # login is refused at once, neither counted nor hashed (services.login_throttle).
    with api.hash_slots.hold():
        # Counted as a failure from here on, unless the password proves right: a disabled
        # account's right password still counts, like any login that fails.
        attempt = api.throttle.attempt(username, client)
        user = api.runtime.users.log_in(username, password, client or None)
    api.throttle.reset(attempt)
    _fresh_session()
    login_user(SessionUser(user))
    _start_session(api.sessions.start(user))
    return success({"user": user_document(user), "csrf_token": generate_csrf()}, "logged_in")


@bp.post("/logout")
@document(s.EmptyEnvelope, errors=(401, 403), security=WRITE, tag="auth")
def logout() -> Response:
    """End the session (and the user's other sessions, in every browser: every copy of the
    cookie stops working at once); needs login and X-CSRFToken like every write."""
    user = check_access(None)
    if token_account() is None:  # a bearer token has no session to end
        state().runtime.users.log_out(user, actor())
    logout_user()
    _fresh_session()
    return success(None, "logged_out")


@bp.get("/me")
@document(s.MeEnvelope, errors=(401,), tag="auth")
@require(None)
def me() -> Response:
    """The logged-in user."""
    user = current_account()
    return success(user_document(user) if user else None)
