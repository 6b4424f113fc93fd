"""Prompt change propagation on PostgreSQL: LISTEN for the store's change notices, and send some.

The store's `write_jobs` notifies `gnomon_changes` (payload: the new change counter) in the
transaction that changes jobs. `ChangeListener` wakes the scheduler on every notice, so a change
made through any node reaches the leader in milliseconds instead of at its next poll of the change
counter (which stays, every `poll_interval`, as the fallback while the listener is disconnected,
and is all there is on SQLite). The store also notifies when a scheduler gives its lease up
(a clean stop), so that a standby takes over at once instead of at its next retry.
`ChangePublisher` sends the notices the store does not: a queued manual run and a cancellation
request, after their transactions have committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gnomon.store.sql_engine import CHANGES_CHANNEL, LEASE_RELEASED

if TYPE_CHECKING:
    import psycopg

# psycopg is imported where a connection is made: a scheduler on SQLite never needs it, and
# importing it costs 40-60 ms of every start-up.

log = logging.getLogger(__name__)

#: Payloads besides the change counter's digits (and the store's LEASE_RELEASED).
MANUAL_RUN = "manual_run"
RUNS = "runs"
#: What the scheduler is told of a released lease.
LEASE = "lease"

# TCP keepalives so a silently dead server or network is noticed within about 25 s even though a
# listening connection sends nothing.
_CONNECT_ARGS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "application_name": "gnomon-changes",
}


def libpq_url(store_url: str) -> str | None:
    """The URL psycopg connects to for a PostgreSQL store URL; None for any other store."""
    scheme, sep, rest = store_url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        return None
    return f"postgresql://{rest}"


class ChangeListener:
    """A daemon thread that LISTENs on the change channel and calls `on_change` for each notice.

    `on_change` gets "manual_run" for a manual run, "lease" for a released lease and "jobs" for
    anything else; it is also called with "jobs" after every (re)connection, since notices sent
    while disconnected are lost.
    """

    def __init__(
        self,
        dsn: str,
        on_change: Callable[[str], None],
        *,
        channel: str = CHANGES_CHANNEL,
        wait: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._channel = channel
        self._wait = wait
        self._max_backoff = max_backoff
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gnomon-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; returns within about `wait` seconds."""
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=self._wait + 5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._listen()
                backoff = 0.5
            except Exception as exc:
                self.connected.clear()
                log.warning(
                    "change notices from the store stopped (%s); polling every poll_interval "
                    "until reconnected, next try in %.1fs",
                    str(exc).strip() or type(exc).__name__,
                    backoff,
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._dsn, **_CONNECT_ARGS) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self.connected.set()
            log.debug("listening on %s", self._channel)
            self._deliver("jobs")
            while not self._stopping.is_set():
                # Returns after `wait` seconds, so stop() is noticed.
                for notice in conn.notifies(timeout=self._wait):
                    self._deliver(_meaning(notice.payload))
        self.connected.clear()

    def _deliver(self, what: str) -> None:
        try:
            self._on_change(what)
        except Exception:
            log.exception("handling a change notice failed")


def _meaning(payload: str) -> str:
    """What a notice tells the scheduler: "manual_run", "lease" or "jobs"."""
    if payload == MANUAL_RUN:
        return MANUAL_RUN
    if payload == LEASE_RELEASED:
        return LEASE
    return "jobs"


class ChangePublisher:
    """Sends notices on the change channel over one lazily opened connection; thread-safe.

    A failed send is logged and dropped: schedulers still see the change at their next poll.
    After a failure it does not try to connect again for `retry_after` seconds, so a store that
    is down does not add a connect timeout to every request.
    """

    def __init__(
        self,
        dsn: str,
        *,
        channel: str = CHANGES_CHANNEL,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._quiet_until = 0.0

    def publish(self, payload: str) -> bool:
        """Notify the channel; True when the notice was sent."""
        import psycopg

        with self._lock:
            if self._conn is None and self._clock() < self._quiet_until:
                return False
            # A kept connection may have died since the last notice: one retry on a fresh one.
            for fresh in (self._conn is None, True):
                try:
                    if self._conn is None:
                        self._conn = psycopg.connect(self._dsn, **_CONNECT_ARGS)
                    self._conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
                    return True
                except psycopg.Error as exc:
                    self._close_locked()
                    if fresh:
                        log.warning(
                            "could not notify %s (%s); schedulers will see the change when "
                            "they next poll",
                            self._channel,
                            str(exc).strip(),
                        )
                        self._quiet_until = self._clock() + self._retry_after
                        return False
            return False

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        import psycopg

        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing the notice connection failed", exc_info=True)
            self._conn = None
