"""Users' sessions: an admin ends every session of a user at once (admin only)."""

from __future__ import annotations

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, actor, require, user_document
from gnomon.api.envelope import success
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import no_body
from gnomon.api.state import state

bp = Blueprint("users", __name__, url_prefix="/api/v1/auth/users")


@bp.post("/<username>/actions/end-sessions")
@document(s.UserEnvelope, errors=(400, 401, 403, 404), security=WRITE, tag="auth")
@require(ADMIN)
def end_sessions(username: str) -> Response:
    """End every session of the user at once, on every worker and node (the user's API tokens
    stay valid: revoke them apart). Raises UserNotFound."""
    no_body()
    user = state().runtime.users.end_sessions(username, actor())
    return success(user_document(user), "sessions_ended")
