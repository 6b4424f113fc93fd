"""User use cases: create, list, change password, disable, authenticate; the first admin."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gnomon.domain import Role, User, utcnow
from gnomon.errors import (
    AccountDisabled,
    InvalidCredentials,
    Problem,
    UserExists,
    ValidationFailed,
)
from gnomon.store.base import Store

MIN_PASSWORD_LENGTH = 8
FIRST_ADMIN = "admin"


class UserService:
    """Users of one store; passwords are kept as argon2 hashes."""

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

    def create_user(self, username: str, role: Role, password: str) -> User:
        """Raises ValidationFailed for a bad name or short password, UserExists."""
        problems = []
        if not username or len(username) > 64 or not username.isprintable() or " " in username:
            problems.append(Problem("username", "must be 1-64 printable characters, no spaces"))
        problems.extend(_password_problems(password))
        if problems:
            raise ValidationFailed(problems)
        return self.store.add_user(username, role, self._hasher.hash(password), self._clock())

    def list_users(self) -> list[User]:
        return self.store.list_users()

    def find_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return self.store.find_user_by_id(user_id)

    def get_user(self, username: str) -> User:
        """Raises UserNotFound."""
        from gnomon.errors import UserNotFound

        user = self.store.find_user(username)
        if user is None:
            raise UserNotFound(username)
        return user

    def set_password(self, username: str, password: str) -> User:
        """Raises UserNotFound, ValidationFailed. Sessions older than the change end (API)."""
        problems = _password_problems(password)
        if problems:
            raise ValidationFailed(problems)
        user = self.get_user(username)
        return self.store.update_user(
            replace(
                user, password_hash=self._hasher.hash(password), password_changed_at=self._clock()
            )
        )

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        user = self.get_user(username)
        return self.store.update_user(replace(user, disabled=disabled))

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


def _password_problems(password: str) -> list[Problem]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [Problem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")]
    return []
