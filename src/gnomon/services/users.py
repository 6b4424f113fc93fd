"""User use cases: create, list, change password, disable, end sessions, log in and out; the
first admin. Every change and every login attempt on an existing account is audited."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gnomon.domain import AuditEntry, Role, User, utcnow
from gnomon.errors import (
    AccountDisabled,
    InvalidCredentials,
    Problem,
    UserExists,
    UserNotFound,
    ValidationFailed,
)
from gnomon.services.views import SYSTEM, Actor
from gnomon.store.base import Store

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
FIRST_ADMIN = "admin"
ANONYMOUS = "anonymous"


class UserService:
    """Users of one store; passwords are kept as argon2 hashes.

    Changing a password and disabling or enabling a user end every session of that user (the
    store raises its session generation in the same write).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._hasher = hasher or PasswordHasher()

    def create_user(self, username: str, role: Role, password: str, actor: Actor = SYSTEM) -> User:
        """Raises ValidationFailed for a bad name or short password, UserExists."""
        problems = []
        if not username or len(username) > 64 or not username.isprintable() or " " in username:
            problems.append(Problem("username", "must be 1-64 printable characters, no spaces"))
        problems.extend(_password_problems(password))
        if problems:
            raise ValidationFailed(problems)
        user = self.store.add_user(username, role, self._hasher.hash(password), self._clock())
        self._audit(actor, "user.create", user, after={"role": user.role.value})
        return user

    def list_users(self) -> list[User]:
        return self.store.list_users()

    def find_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return self.store.find_user_by_id(user_id)

    def get_user(self, username: str) -> User:
        """Raises UserNotFound."""
        user = self.store.find_user(username)
        if user is None:
            raise UserNotFound(username)
        return user

    def set_password(self, username: str, password: str, actor: Actor = SYSTEM) -> User:
        """Change the password and end the user's sessions. Raises UserNotFound,
        ValidationFailed."""
        problems = _password_problems(password)
        if problems:
            raise ValidationFailed(problems)
        user = self.get_user(username)
        changed = replace(
            user, password_hash=self._hasher.hash(password), password_changed_at=self._clock()
        )
        updated = self.store.update_user(changed, end_sessions=True)
        self._audit(actor, "user.set_password", updated)
        return updated

    def set_disabled(
        self,
        username: str,
        disabled: bool = True,
        actor: Actor = SYSTEM,
        *,
        keep_an_admin: bool = False,
    ) -> User:
        """Disable (or enable) the user and end its sessions either way, so that enabling it
        again never brings an old session back. With `keep_an_admin` (the API: an operator
        on the server can always enable an admin again from the CLI, an API client cannot),
        raises LastAdmin rather than disable the last enabled admin. Raises UserNotFound."""
        user = self.get_user(username)
        updated = self.store.update_user(
            replace(user, disabled=disabled),
            end_sessions=True,
            keep_an_admin=disabled and keep_an_admin,
        )
        action = "user.disable" if disabled else "user.enable"
        self._audit(
            actor, action, updated, before={"disabled": user.disabled}, after={"disabled": disabled}
        )
        return updated

    def set_role(self, username: str, role: Role, actor: Actor = SYSTEM) -> User:
        """Give the user another role; it holds from the user's next request on (sessions
        read the role from the store). Raises UserNotFound, LastAdmin (demoting the last
        enabled admin)."""
        user = self.get_user(username)
        if role == user.role:
            return user
        updated = self.store.update_user(replace(user, role=role), keep_an_admin=True)
        before, after = {"role": user.role.value}, {"role": role.value}
        self._audit(actor, "user.set_role", updated, before=before, after=after)
        return updated

    def end_sessions(self, username: str, actor: Actor = SYSTEM) -> User:
        """End every session of the user at once, in every process. Raises UserNotFound."""
        user = self.store.end_sessions(self.get_user(username).id)
        self._audit(actor, "user.end_sessions", user)
        return user

    def authenticate(self, username: str, password: str) -> User:
        """Raises InvalidCredentials or AccountDisabled."""
        user = self.store.find_user(username)
        if user is None:
            # Spend the same time as a real check so response times do not reveal usernames.
            self._hasher.hash(password)
            raise InvalidCredentials()
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials() from None
        if user.disabled:
            raise AccountDisabled(username)
        return user

    def log_in(self, username: str, password: str, client: str | None = None) -> User:
        """`authenticate`, audited: a success, and a failure on an existing account, become
        entries; a failure on an unknown username is only logged (the audit trail is kept
        forever, and must not grow with whatever an anonymous client types, passwords typed
        into the username field included). Raises InvalidCredentials or AccountDisabled."""
        try:
            user = self.authenticate(username, password)
        except (InvalidCredentials, AccountDisabled) as exc:
            known = self.store.find_user(username)
            if known is None:
                log.warning("failed login for an unknown username from %s", client or "-")
            else:
                reason = "account_disabled" if isinstance(exc, AccountDisabled) else "bad_password"
                anonymous = Actor(ANONYMOUS, client=client)
                self._audit(anonymous, "auth.login_failed", known, after={"reason": reason})
            raise
        self._audit(Actor(user.username, user.id, client), "auth.login", user)
        return user

    def log_out(self, user: User, actor: Actor) -> User:
        """End the session: every session of the user ends with it (sessions are counted per
        user, not one by one). Raises UserNotFound."""
        ended = self.store.end_sessions(user.id)
        self._audit(actor, "auth.logout", ended)
        return ended

    def ensure_first_admin(self, password: str | None = None) -> str | None:
        """With no users at all, create `admin`; returns the password to show once (generated
        unless given), or None when users exist already."""
        if self.store.count_users() > 0:
            return None
        password = password or secrets.token_urlsafe(12)
        try:
            self.create_user(FIRST_ADMIN, Role.ADMIN, password)
        except UserExists:
            return None  # another process starting at the same moment created it first
        return password

    def _audit(
        self,
        actor: Actor,
        action: str,
        user: User,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            id=None,
            at=self._clock(),
            actor=actor.name,
            action=action,
            target=f"user:{user.username}",
            before=before,
            after=after,
            client=actor.client,
            user_id=actor.user_id,
        )
        self.store.add_audit(entry)


def _password_problems(password: str) -> list[Problem]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [Problem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")]
    return []
