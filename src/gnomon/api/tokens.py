"""API tokens for automation: create (shown once), list, revoke; admin only (SPEC §5.2)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, actor, current_account, require
from gnomon.api.envelope import success
from gnomon.api.headers import no_store
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import ascii_integer, no_body, object_body
from gnomon.api.state import state
from gnomon.errors import Problem, TokenNotFound, ValidationFailed
from gnomon.services.tokens import token_document

bp = Blueprint("tokens", __name__, url_prefix="/api/v1/auth/tokens")

CREATE_KEYS = ("user", "name", "expires_in_days")
MAX_ID = 2**31 - 1


def _create_input(body: dict[str, Any]) -> tuple[str | None, str, int | None]:
    problems = [Problem(str(k), "unknown key") for k in body if k not in CREATE_KEYS]
    user, name, days = body.get("user"), body.get("name"), body.get("expires_in_days")
    if user is not None and (not isinstance(user, str) or not user):
        problems.append(Problem("user", "must be a non-empty string (a username)"))
    if not isinstance(name, str) or not name:
        problems.append(Problem("name", "is required and must be a non-empty string"))
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
        problems.append(Problem("expires_in_days", "must be an integer (days) or null"))
    if problems:
        raise ValidationFailed(problems)
    return user, str(name), days


@bp.post("")
@document(
    s.NewTokenEnvelope,
    status=201,
    errors=(400, 401, 403, 404),
    json=s.TokenInput,
    security=WRITE,
    tag="tokens",
)
@require(ADMIN)
def create_token() -> Response:
    """{user?, name, expires_in_days?} → the token, shown this once, with its id.

    `user` defaults to the caller. Raises ValidationFailed, UserNotFound.
    """
    username, name, days = _create_input(object_body())
    caller = current_account()
    owner = username or (caller.username if caller else "")
    created = state().tokens.create_token(owner, name, days, actor())
    document = {**token_document(created.token, created.username), "token": created.secret}
    return no_store(success(document, "token_created", status=201))


@bp.get("")
@document(s.TokenListEnvelope, errors=(401, 403), tag="tokens")
@require(ADMIN)
def list_tokens() -> Response:
    """Every token (without secrets), by id."""
    return success([token_document(t, name) for t, name in state().tokens.list_tokens()])


@bp.delete("/<token_id>")
@document(s.TokenEnvelope, errors=(401, 403, 404), security=WRITE, tag="tokens")
@require(ADMIN)
def revoke_token(token_id: str) -> Response:
    """Revoke a token (idempotent). Raises TokenNotFound."""
    no_body()
    number = ascii_integer(token_id)
    if number is None or not 0 < number <= MAX_ID:
        raise TokenNotFound(token_id)
    token = state().tokens.revoke_token(number, actor())
    names = {user.id: user.username for user in state().runtime.users.list_users()}
    return success(token_document(token, names.get(token.user_id)), "token_revoked")
