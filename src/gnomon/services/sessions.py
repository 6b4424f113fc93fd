"""When a login session is still valid: the user's session generation and two lifetimes.

A session lives in a signed cookie: it cannot be forged, but any copy of it works. So the store
has the last word. At login the session is stamped with the user's session generation; it is
valid only while the user's stored generation is still that one. Logging out, changing the
password, disabling or enabling the user and ending the user's sessions all raise the
generation, so every copy of every older session ends at once, on every worker and node. The
check costs nothing extra: each request reads the user from the store anyway.

A per-user generation (rather than a stored row per session) needs no table to clean, no write
per request and no extra read; its price is that a logout ends the user's sessions in every
browser, not only the one that logged out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gnomon.domain import User, utcnow
from gnomon.services.users import UserService

IDLE_TIMEOUT_S = 12 * 3600.0
MAX_LIFETIME_S = 7 * 86400.0


@dataclass(frozen=True)
class SessionStamp:
    """What a session carries about its login (times are POSIX seconds)."""

    user_id: int
    generation: int
    started_at: float
    seen_at: float


class SessionPolicy:
    """Starts sessions and decides, at every request, whether one is still valid."""

    def __init__(
        self,
        users: UserService,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_lifetime_s: float = MAX_LIFETIME_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.users = users
        self.idle_timeout = timedelta(seconds=idle_timeout_s)
        self.max_lifetime = timedelta(seconds=max_lifetime_s)
        self.clock = clock

    def start(self, user: User) -> SessionStamp:
        """The stamp of a session starting now for `user` (just authenticated)."""
        now = self.clock().timestamp()
        return SessionStamp(user.id, user.session_generation, started_at=now, seen_at=now)

    def resume(self, stamp: SessionStamp) -> tuple[User, SessionStamp] | None:
        """The user of a valid session and its stamp seen now; None when the user is gone or
        disabled, its generation moved on, or the session was idle or lived too long."""
        now = self.clock()
        idle = now - datetime.fromtimestamp(stamp.seen_at, UTC)
        age = now - datetime.fromtimestamp(stamp.started_at, UTC)
        if idle > self.idle_timeout or age > self.max_lifetime:
            return None
        user = self.users.find_user_by_id(stamp.user_id)
        if user is None or user.disabled or user.session_generation != stamp.generation:
            return None
        return user, replace(stamp, seen_at=now.timestamp())
