"""API token use cases: create (shown once), list, revoke, and authenticate a bearer token.

Tokens are 256-bit random strings; the store keeps only their SHA-256 hex digest. A fast hash is
enough here (unlike passwords): guessing a 256-bit secret is hopeless, so there is nothing for a
slow hash to protect against, and every API request can afford the check.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gnomon.domain import ApiToken, AuditEntry, User, utcnow
from gnomon.errors import Problem, ValidationFailed
from gnomon.services.users import UserService
from gnomon.services.views import Actor
from gnomon.store.base import Store

TOKEN_PREFIX = "gnm_"  # noqa: S105 - a marker, not a secret
MAX_NAME = 100
MAX_EXPIRY_DAYS = 3650
# Recording every use would turn each bearer read into a write; once a minute is enough to tell
# which tokens are still in use.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is shown to the creator once and never stored."""

    token: ApiToken
    secret: str
    username: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenService:
    """API tokens of one store."""

    def __init__(
        self,
        store: Store,
        users: UserService,
        *,
        max_lifetime_days: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.users = users
        self.max_lifetime_days = max_lifetime_days
        self._clock = clock

    def create_token(
        self, username: str, name: str, expires_in_days: int | None, actor: Actor
    ) -> NewToken:
        """A new token for `username`, expiring after `expires_in_days` (None: never), or
        after `max_lifetime_days` when that is sooner. Raises ValidationFailed (name, expiry),
        UserNotFound."""
        problems = []
        if not name or len(name) > MAX_NAME or not name.isprintable():
            problems.append(Problem("name", f"must be 1-{MAX_NAME} printable characters"))
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            problems.append(
                Problem("expires_in_days", f"must be an integer from 1 to {MAX_EXPIRY_DAYS}")
            )
        if problems:
            raise ValidationFailed(problems)
        user = self.users.get_user(username)
        now = self._clock()
        days = _capped(expires_in_days, self.max_lifetime_days)
        expires = now + timedelta(days=days) if days else None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = self.store.add_token(user.id, name, hash_token(secret), now, expires)
        self._audit(actor, "token.create", token, after=self._describe(token, user.username))
        return NewToken(token=token, secret=secret, username=user.username)

    def list_tokens(self) -> list[tuple[ApiToken, str | None]]:
        """Every token with its owner's username (None if the user is gone), by id."""
        names = {user.id: user.username for user in self.users.list_users()}
        return [(token, names.get(token.user_id)) for token in self.store.list_tokens()]

    def revoke_token(self, token_id: int, actor: Actor) -> ApiToken:
        """Revoke (idempotent: the first revocation time is kept). Raises TokenNotFound."""
        token = self.store.revoke_token(token_id, self._clock())
        self._audit(actor, "token.revoke", token, after={"revoked_at": _iso(token.revoked_at)})
        return token

    def authenticate(self, secret: str) -> User | None:
        """The user a bearer secret stands for; None when it is unknown, revoked or expired.

        Records the use (at most once a minute per token).
        """
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        found = self.store.find_token_and_user(hash_token(secret))
        now = self._clock()
        if found is None:
            return None
        token, user = found
        if token.revoked_at is not None:
            return None
        if token.expires_at is not None and token.expires_at <= now:
            return None
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            self.store.touch_token(token.id, now)
        return user

    def _describe(self, token: ApiToken, username: str | None) -> dict[str, object]:
        return {
            "id": token.id,
            "name": token.name,
            "user": username,
            "expires_at": _iso(token.expires_at),
        }

    def _audit(self, actor: Actor, action: str, token: ApiToken, after: dict[str, object]) -> None:
        self.store.add_audit(
            AuditEntry(
                id=None,
                at=self._clock(),
                actor=actor.name,
                action=action,
                target=f"token:{token.id}",
                after=after,
                client=actor.client,
                user_id=actor.user_id,
            )
        )


def _capped(days: int | None, cap: int | None) -> int | None:
    if cap is None:
        return days
    return cap if days is None else min(days, cap)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def token_document(token: ApiToken, username: str | None) -> dict[str, object]:
    """A token as the API and `gnomon tokens list --json` show it (never its hash)."""
    return {
        "id": token.id,
        "name": token.name,
        "user": username,
        "user_id": token.user_id,
        "created_at": _iso(token.created_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "last_used_at": _iso(token.last_used_at),
    }
