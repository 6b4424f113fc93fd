"""Scheduler leadership: a lease in the store, renewed by the leader, plus this node's heartbeat.

The leader may fire only while `is_leader()` is true, which is judged by this process's monotonic
clock against the lease's expiry minus a safety margin: a process frozen past its lease (SIGSTOP,
a long GC pause) wakes up no longer leader and fires nothing until it renews. The store's fenced
claim refuses its writes too if it tries.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from gnomon.domain import Lease, Node, utcnow
from gnomon.store.base import Store

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def new_node_id() -> str:
    """A node id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Leadership:
    """Keeps trying to hold the scheduler lease; calls back on gaining and losing it."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        ttl: float = 10.0,
        on_elected: Callable[[Lease], None] | None = None,
        on_deposed: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self.node_id = node_id
        self.ttl = ttl
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._clock = clock
        self._lease: Lease | None = None
        self._valid_until = 0.0  # monotonic
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = clock()

    @property
    def lease(self) -> Lease | None:
        return self._lease if self.is_leader() else None

    def is_leader(self) -> bool:
        return self._lease is not None and time.monotonic() < self._valid_until

    def start(self) -> None:
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="gnomon-leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and give the lease up at once, so a standby can take over."""
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=10)
        was_leader = self._lease is not None
        self._lease = None
        if was_leader:
            try:
                self._store.release_lease(LEASE_NAME, self.node_id)
            except Exception:
                log.exception("could not release the scheduler lease")
        try:
            self._store.remove_node(self.node_id)
        except Exception:
            log.exception("could not unregister node %s", self.node_id)

    def tick(self) -> None:
        """Heartbeat and try to take or renew the lease once."""
        now = self._clock()
        started = time.monotonic()
        try:
            self._store.heartbeat(
                Node(
                    id=self.node_id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=self._started_at,
                    last_seen=now,
                )
            )
            lease = self._store.acquire_lease(LEASE_NAME, self.node_id, self.ttl, now)
        except Exception:
            log.exception("leadership check failed; not firing until it succeeds")
            lease = None
        if lease is None:
            self._lose()
            return
        gained = self._lease is None or self._lease.token != lease.token
        self._lease = lease
        # Count the lease from before the round trip, minus a margin, so that we stop firing
        # before the store could consider the lease expired.
        self._valid_until = started + self.ttl * 0.8
        if gained:
            log.info("node %s is now the scheduler leader (token %d)", self.node_id, lease.token)
            if self._on_elected:
                self._on_elected(lease)

    def _lose(self) -> None:
        if self._lease is not None:
            log.warning("node %s lost the scheduler lease", self.node_id)
            self._lease = None
            if self._on_deposed:
                self._on_deposed()

    def _loop(self) -> None:
        while not self._stopping.wait(self.ttl / 4):
            self.tick()
