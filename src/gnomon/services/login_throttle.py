"""Login throttling: at most N failed logins per sliding window for one (username, client).

The failures are kept in the store, so the limit holds across every API process of a store
(`gnomon serve --workers N`, several nodes) and across restarts. Keys are digests: the store
never holds the usernames or addresses that were tried.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from gnomon.domain import utcnow
from gnomon.errors import LoginThrottled
from gnomon.store.base import Store

MAX_FAILURES = 10
WINDOW_S = 60.0


def failure_key(username: str, client: str) -> str:
    """The store's key for the failures of `username` from `client`."""
    return hashlib.sha256(f"{username}\0{client}".encode()).hexdigest()


class LoginThrottle:
    """Counts failed logins in the store; one store round trip per check."""

    def __init__(
        self,
        store: Store,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self._clock = clock

    def check(self, username: str, client: str) -> None:
        """Raise LoginThrottled when this pair has used up its failures in the current window."""
        now = self._clock()
        failures = self.store.login_failures(failure_key(username, client), now - self.window)
        if len(failures) >= self.max_failures:
            # Allowed again once enough of them have left the window to leave one attempt.
            frees_at = failures[-self.max_failures] + self.window
            raise LoginThrottled(max(1, math.ceil((frees_at - now).total_seconds())))

    def record_failure(self, username: str, client: str) -> None:
        now = self._clock()
        self.store.add_login_failure(failure_key(username, client), now, now - self.window)

    def reset(self, username: str, client: str) -> None:
        """Forget the failures of this pair (after a successful login)."""
        self.store.clear_login_failures(failure_key(username, client))
