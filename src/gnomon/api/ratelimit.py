"""Login throttling: at most N failed logins per window for one (username, client address).

Kept in process memory: each API worker counts on its own and counts reset on restart, so with
W workers an attacker gets at most W*N attempts per window. A store-backed limiter can replace it
behind the same three methods.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from gnomon.errors import GnomonError

Key = tuple[str, str]
MAX_TRACKED = 10_000


class RateLimited(GnomonError):
    """Too many failed attempts; `retry_after` says in how many seconds to try again."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed attempts; try again in {retry_after} seconds")


class LoginLimiter:
    """Counts failures in a sliding window; thread-safe."""

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[Key, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: Key) -> None:
        """Raise RateLimited when `key` has used up its failures in the current window."""
        with self._lock:
            times = self._recent(key)
            if len(times) >= self.max_failures:
                wait = times[0] + self.window_s - self._clock()
                raise RateLimited(max(1, math.ceil(wait)))

    def record_failure(self, key: Key) -> None:
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:
                self._prune()
            self._recent(key).append(self._clock())

    def reset(self, key: Key) -> None:
        """Forget the failures of `key` (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: Key) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        horizon = self._clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        return times

    def _prune(self) -> None:
        horizon = self._clock() - self.window_s
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= horizon]:
            del self._failures[key]
