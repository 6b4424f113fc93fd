"""Login throttling: at most N failed logins per sliding window for one (username, client), and
at most M for one client whatever usernames it tries; at most K password hashes at once in one
process.

Every login costs a deliberately slow password hash, a login for an unknown username included
(so that timing does not tell which usernames exist). The failures per (username, client) stop
password guessing on one account; the failures per client stop one client from making the
server hash for each of many random usernames; the hash slots stop many clients at once from
taking every thread and core of a process, refusing at once, unhashed, the logins that find
none free.

The failures are kept in the store, so the limits hold across every API process of a store
(`gnomon serve --workers N`, several nodes) and across restarts. Keys are digests: the store
never holds the usernames or addresses that were tried.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from gnomon.domain import utcnow
from gnomon.errors import LoginBusy, LoginThrottled
from gnomon.store.base import Store

MAX_FAILURES = 10
MAX_CLIENT_FAILURES = 30
WINDOW_S = 60.0
MAX_CONCURRENT_HASHES = 2
#: What a login refused for want of a hash slot is told to wait (Retry-After): a hash takes a
#: fraction of a second.
BUSY_RETRY_AFTER_S = 1


def failure_key(username: str, client: str) -> str:
    """The store's key for the failures of `username` from `client`."""
    return hashlib.sha256(f"{username}\0{client}".encode()).hexdigest()


def client_failure_key(client: str) -> str:
    """The store's key for the failures of `client`, whatever the username: a digest of
    another form than any `failure_key` (whose username is never empty, and which holds one NUL
    where this holds two before the address)."""
    return hashlib.sha256(f"\0client\0{client}".encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """A login attempt counted by `LoginThrottle.attempt`, for `reset` once it succeeds."""

    key: str
    client_key: str
    at: datetime


class LoginThrottle:
    """Counts failed logins in the store; one store transaction per attempt."""

    def __init__(
        self,
        store: Store,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], datetime] = utcnow,
        *,
        max_client_failures: int = MAX_CLIENT_FAILURES,
    ) -> None:
        self.store = store
        self.max_failures = max_failures
        self.max_client_failures = max_client_failures
        self.window = timedelta(seconds=window_s)
        self._clock = clock

    def attempt(self, username: str, client: str) -> Attempt:
        """Count a login attempt of this pair, and of this client, as a failure until `reset`
        (a successful login) forgets it; raise LoginThrottled, counting nothing, when the pair
        or the client has used up its failures in the current window.

        Counted before the password is checked, in the same store transaction as the check: of
        many attempts at once, no more than the limits ever get to try a password.
        """
        now = self._clock()
        attempt = Attempt(failure_key(username, client), client_failure_key(client), now)
        limits = [(attempt.key, self.max_failures), (attempt.client_key, self.max_client_failures)]
        found = self.store.take_login_attempts(limits, now, now - self.window)
        waits = [
            # Allowed again once enough of them have left the window to leave one attempt.
            (failures[-limit] + self.window - now).total_seconds()
            for failures, (_key, limit) in zip(found, limits, strict=True)
            if len(failures) >= limit
        ]
        if waits:
            raise LoginThrottled(max(1, math.ceil(max(waits))))
        return attempt

    def reset(self, attempt: Attempt) -> None:
        """After a successful login: forget the failures of its (username, client) pair, and
        this attempt among the client's (its other failures, under other usernames, stay)."""
        self.store.clear_login_failures(attempt.key, [(attempt.client_key, attempt.at)])


class HashSlots:
    """At most `size` password hashes at once in this process. `hold` takes a slot for one
    login or raises LoginBusy at once: a login never waits for one, so a flood of logins is
    answered quickly and leaves the process's threads and cores to everything else."""

    def __init__(self, size: int = MAX_CONCURRENT_HASHES) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Raises LoginBusy when every slot is taken."""
        if not self._free.acquire(blocking=False):
            raise LoginBusy(BUSY_RETRY_AFTER_S)
        try:
            yield
        finally:
            self._free.release()
