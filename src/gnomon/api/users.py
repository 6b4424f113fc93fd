"""Users, for admins: list, create, change role, disable or enable, set a password, end every
session at once. Every change is audited by the user service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, actor, require, user_document
from gnomon.api.envelope import success
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import no_body, object_body
from gnomon.api.state import state
from gnomon.domain import Role, User
from gnomon.errors import Problem, ValidationFailed

bp = Blueprint("users", __name__, url_prefix="/api/v1/auth/users")

ROLES = ", ".join(role.value for role in Role)


def account_document(user: User) -> dict[str, object]:
    """A user as admins see it: the /auth/me fields, whether disabled, and when made."""
    return {
        **user_document(user),
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "password_changed_at": (
            user.password_changed_at.isoformat() if user.password_changed_at else None
        ),
    }


def _unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> list[Problem]:
    return [Problem(str(key), "unknown key") for key in body if key not in allowed]


def _role(value: object, problems: list[Problem]) -> Role | None:
    if isinstance(value, str) and value in {role.value for role in Role}:
        return Role(value)
    problems.append(Problem("role", f"must be one of {ROLES}"))
    return None


def _password(body: dict[str, Any], problems: list[Problem]) -> str:
    password = body.get("password")
    if not isinstance(password, str):
        problems.append(Problem("password", "is required and must be a string"))
        return ""
    return password


@bp.get("")
@document(s.AccountListEnvelope, errors=(401, 403), tag="auth")
@require(ADMIN)
def list_users() -> Response:
    """Every user, by id (never a password hash)."""
    return success([account_document(user) for user in state().runtime.users.list_users()])


@bp.post("")
@document(
    s.AccountEnvelope,
    status=201,
    errors=(400, 401, 403, 409),
    json=s.UserInput,
    security=WRITE,
    tag="auth",
)
@require(ADMIN)
def create_user() -> Response:
    """{username, role, password} → the new user. Raises ValidationFailed, UserExists."""
    body = object_body()
    problems = _unknown(body, ("username", "role", "password"))
    username = body.get("username")
    if not isinstance(username, str) or not username:
        problems.append(Problem("username", "is required and must be a non-empty string"))
    role = _role(body.get("role"), problems)
    password = _password(body, problems)
    if problems or role is None:
        raise ValidationFailed(problems)
    user = state().runtime.users.create_user(str(username), role, password, actor())
    return success(account_document(user), "user_created", status=201)


@bp.patch("/<username>")
@document(
    s.AccountEnvelope,
    errors=(400, 401, 403, 404, 409),
    json=s.UserPatch,
    security=WRITE,
    tag="auth",
)
@require(ADMIN)
def update_user(username: str) -> Response:
    """{role?, disabled?} → the user. Disabling (or enabling) ends the user's sessions.

    Raises ValidationFailed, UserNotFound, LastAdmin (the last enabled admin would go).
    """
    body = object_body()
    problems = _unknown(body, ("role", "disabled"))
    role = _role(body["role"], problems) if "role" in body else None
    disabled = body.get("disabled")
    if "disabled" in body and not isinstance(disabled, bool):
        problems.append(Problem("disabled", "must be true or false"))
    if not body:
        problems.append(Problem("body", "give role, disabled, or both"))
    if problems:
        raise ValidationFailed(problems)
    users, who = state().runtime.users, actor()
    user = users.get_user(username)
    # Promote before enabling and disable before demoting; either order keeps an admin.
    if role is not None and role == Role.ADMIN:
        user = users.set_role(username, role, who)
    if isinstance(disabled, bool) and disabled != user.disabled:
        user = users.set_disabled(username, disabled, who, keep_an_admin=True)
    if role is not None and role != Role.ADMIN:
        user = users.set_role(username, role, who)
    return success(account_document(user), "user_updated")


@bp.post("/<username>/actions/set-password")
@document(
    s.AccountEnvelope, errors=(400, 401, 403, 404), json=s.PasswordInput, security=WRITE, tag="auth"
)
@require(ADMIN)
def set_password(username: str) -> Response:
    """{password} → the user, whose sessions have ended. Raises ValidationFailed,
    UserNotFound."""
    body = object_body()
    problems = _unknown(body, ("password",))
    password = _password(body, problems)
    if problems:
        raise ValidationFailed(problems)
    user = state().runtime.users.set_password(username, password, actor())
    return success(account_document(user), "password_set")


@bp.post("/<username>/actions/end-sessions")
@document(s.UserEnvelope, errors=(400, 401, 403, 404), security=WRITE, tag="auth")
@require(ADMIN)
def end_sessions(username: str) -> Response:
    """End every session of the user at once, on every worker and node (the user's API tokens
    stay valid: revoke them apart). Raises UserNotFound."""
    no_body()
    user = state().runtime.users.end_sessions(username, actor())
    return success(user_document(user), "sessions_ended")
