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
    """Counts failed logins in the store; one store transaction per attempt."""

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

    def attempt(self, username: str, client: str) -> None:
        """Count a login attempt of this pair as a failure until `reset` (a successful login)
        forgets it; raise LoginThrottled, counting nothing, when the pair has used up its
        failures in the current window.

        Counted before the password is checked, in the same store transaction as the check: of
        many attempts at once, no more than the limit ever get to try a password.
        """
        now = self._clock()
        failures = self.store.take_login_attempt(
            failure_key(username, client), now, now - self.window, self.max_failures
        )
        if len(failures) >= self.max_failures:
            # Allowed again once enough of them have left the window to leave one attempt.
            frees_at = failures[-self.max_failures] + self.window
            raise LoginThrottled(max(1, math.ceil((frees_at - now).total_seconds())))

    def reset(self, username: str, client: str) -> None:
        """Forget the failures of this pair (after a successful login)."""
        self.store.clear_login_failures(failure_key(username, client))
