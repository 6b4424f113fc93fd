"""Scheduler leadership: a lease in the store, renewed by the leader, plus this node's heartbeat.

The lease's end is written and judged on the store's clock (PostgreSQL's server time), so a step
of one node's wall clock changes nothing about who leads. The leader may fire only while
`is_leader()` is true, which it judges on its own monotonic clock against the lease's length minus
a safety margin: a process frozen past its lease (SIGSTOP, a long GC pause, a suspended VM) wakes
up no longer leader and fires nothing until it renews — and a renewal after such a lapse counts
as a new election, so the scheduler reloads everything. The store's fenced writes refuse it too
if it tries (see store/sql_nodes.py), and a refusal (`forfeit`) also ends this node's leadership
until it is elected again.

Timing, with the default ttl of 10 s: the leader renews every ttl/4 (2.5 s), so three renewals
in a row may fail before it stops firing at 0.8 × ttl (8 s) after the last successful renewal
began; the store counts the lease until ttl (10 s) after it wrote the renewal, by its own clock.
A standby retries every ttl/4 and, when it learns when the holder's lease ends, right at that
moment: a dead leader is replaced within the lease time of its last renewal. A leader that stops
cleanly gives the lease up (`resign`), and on PostgreSQL the store's notice of that wakes the
standbys (`wake`), which take over within milliseconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from gnomon.domain import Lease, Node, utcnow
from gnomon.store.base import Store

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"

#: The fraction of the lease time this process trusts a renewal for (the rest is the margin
#: that absorbs clock drift between nodes and the time the renewal's reply took).
VALIDITY = 0.8
#: Renewals per lease time: a leader survives this many minus one failed renewals in a row.
RENEWALS_PER_TTL = 4
#: Nodes not seen for this many lease times are removed from the registry by the leader. It is
#: far beyond the two lease times after which their runs count as orphaned, so pruning never
#: changes what is orphaned; a node that comes back simply registers again.
NODE_RETENTION_TTLS = 30
#: A standby wakes this long after the holder's lease ends, so its clock surely agrees.
_TAKEOVER_SLACK = 0.05

_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def monotonic() -> float:
    """Seconds on a clock that never goes back and, unlike time.monotonic, counts suspend too."""
    if _BOOTTIME is not None:
        return time.clock_gettime(_BOOTTIME)
    return time.monotonic()


def new_node_id() -> str:
    """A node id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Leadership:
    """Keeps trying to hold the scheduler lease; calls back on gaining and losing it.

    The callbacks run on the leadership thread while its state lock is held, so by the time any
    thread sees `is_leader()` turn true the `on_elected` callback has already run. They must be
    quick and must not wait for other threads.
    """

    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        ttl: float = 10.0,
        on_elected: Callable[[Lease], None] | None = None,
        on_deposed: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic_clock: Callable[[], float] = monotonic,
    ) -> None:
        self._store = store
        self.node_id = node_id
        self.ttl = ttl
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._clock = clock
        self._monotonic = monotonic_clock
        self._state = threading.RLock()
        self._lease: Lease | None = None
        self._valid_until = 0.0  # on self._monotonic
        # (lease, valid until) as one value, for lock-free reads: workers ask before every run,
        # and 16 of them queuing for the state lock thousands of times a second stalled firing.
        self._held: tuple[Lease, float] | None = None
        self._next_prune = 0.0
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by stop() and wake(): tick now
        self._resigned = False
        # Held for each tick's round trips: resign() waits out a renewal in flight before it
        # gives the lease up, so that renewal cannot take the lease back afterwards.
        self._ticking = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_at = clock()

    @property
    def lease(self) -> Lease | None:
        """The lease while this process may act on it, else None."""
        held = self._held  # one atomic read; no lock
        if held is None or self._monotonic() >= held[1]:
            return None
        return held[0]

    def is_leader(self) -> bool:
        with self._state:
            return self._valid()

    def start(self) -> None:
        wait = self.tick()
        self._thread = threading.Thread(
            target=self._loop, args=(wait,), name="gnomon-leadership", daemon=True
        )
        self._thread.start()

    def alive(self) -> bool:
        """Whether its thread runs (after start(), until stop())."""
        return self._thread is not None and self._thread.is_alive()

    def revive(self) -> None:
        """Start its thread again if it ended while not stopping."""
        if self._stopping.is_set() or self.alive():
            return
        self._thread = threading.Thread(
            target=self._loop, args=(0.0,), name="gnomon-leadership", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Try for the lease now rather than at the next retry (its holder has given it up)."""
        self._wake.set()

    def resign(self) -> None:
        """Give the lease up now and never take it again; keep this node's heartbeat going.

        A stopping scheduler resigns as soon as it fires no more, so a standby takes over at
        once instead of after the shutdown grace its running runs may take. Those runs stay
        its own: the heartbeat tells the other nodes they are not orphans.
        """
        with self._ticking:
            with self._state:
                self._resigned = True
                was_leader = self._lease is not None
                if was_leader:
                    log.info("node %s hands the scheduler lease over", self.node_id)
                    self._lease = None
                    self._held = None
                    if self._on_deposed:
                        self._on_deposed()
            if was_leader:
                self._release()

    def stop(self) -> None:
        """Stop the heartbeat, give the lease up if still held, and leave the node registry."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        with self._state:
            was_leader = self._lease is not None
            self._lease = None
            self._held = None
        if was_leader:
            self._release()
        try:
            self._store.remove_node(self.node_id)
        except Exception:
            log.exception("could not unregister node %s", self.node_id)

    def forfeit(self) -> None:
        """The store refused a write fenced by our lease: stop acting on it now, and try for
        the lease again at once. Taken again, even with the same token, it counts as a new
        election, so the scheduler rebuilds its state from the store."""
        with self._state:
            self._lose()
        self._wake.set()

    def _release(self) -> None:
        try:
            self._store.release_lease(LEASE_NAME, self.node_id)
        except Exception:
            log.exception("could not release the scheduler lease")

    def tick(self) -> float:
        """Heartbeat and try to take or renew the lease once; returns the seconds until the next."""
        with self._ticking:
            if self._resigned:
                return self._heartbeat_only()
            return self._tick()

    def _heartbeat_only(self) -> float:
        try:
            self._store.heartbeat(self._node(self._store.current_time()))
        except Exception:
            log.exception("heartbeat failed; retrying soon")
            return min(1.0, self.ttl / RENEWALS_PER_TTL)
        return self.ttl / RENEWALS_PER_TTL

    def _node(self, now: datetime) -> Node:
        return Node(
            id=self.node_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self._started_at,
            last_seen=now,
        )

    def _tick(self) -> float:
        # Taken before the round trip: the lease is trusted from when it was asked for, so a
        # reply delayed by a freeze is already stale when it arrives.
        asked_at = self._monotonic()
        try:
            # Heartbeats and the lease's end are on the store's clock, the one every node
            # judges them by: a step of this node's wall clock moves neither.
            now = self._store.current_time()
            self._store.heartbeat(self._node(now))
            lease = self._store.acquire_lease(LEASE_NAME, self.node_id, self.ttl)
            held = self._store.find_lease(LEASE_NAME) if lease is None else lease
        except Exception:
            log.exception("leadership check failed; retrying soon")
            with self._state:
                # Keep a lease that is still valid: one failed renewal is no reason to hand over.
                if self._lease is not None and not self._valid():
                    self._lose()
            return min(1.0, self.ttl / RENEWALS_PER_TTL)
        with self._state:
            if lease is None:
                self._lose()
            else:
                self._renewed(lease, asked_at)
        if lease is not None:
            self._prune_nodes(now)
            return self.ttl / RENEWALS_PER_TTL
        return self._standby_wait(held, now)

    def _valid(self) -> bool:
        return self._lease is not None and self._monotonic() < self._valid_until

    def _renewed(self, lease: Lease, asked_at: float) -> None:
        if self._lease is not None and not self._valid():
            # The lease lapsed here before this renewal (a freeze, a slow store): the scheduler
            # has dropped its state meanwhile, so this must count as a new election even though
            # the store kept our token (nobody else took the lease in between).
            log.warning("node %s let the scheduler lease lapse; taking it afresh", self.node_id)
            self._lose()
        gained = self._lease is None or self._lease.token != lease.token
        self._lease = lease
        self._valid_until = asked_at + self.ttl * VALIDITY
        if gained:
            log.info("node %s is now the scheduler leader (token %d)", self.node_id, lease.token)
            if self._on_elected:
                self._on_elected(lease)
        # Published last: whoever sees the lease held sees on_elected's effects too.
        self._held = (lease, self._valid_until)

    def _lose(self) -> None:
        if self._lease is not None:
            log.warning("node %s lost the scheduler lease", self.node_id)
            self._lease = None
            self._held = None
            if self._on_deposed:
                self._on_deposed()

    def _standby_wait(self, held: Lease | None, now: datetime) -> float:
        """Until the holder's lease ends (judged by the store's clock, as acquire_lease is)."""
        wait = self.ttl / RENEWALS_PER_TTL
        if held is not None and held.holder != self.node_id:
            ends_in = (held.expires_at - now).total_seconds() + _TAKEOVER_SLACK
            wait = min(wait, max(_TAKEOVER_SLACK, ends_in))
        return wait

    def _prune_nodes(self, now: datetime) -> None:
        """Remove nodes long gone from the registry, once per lease time."""
        if self._monotonic() < self._next_prune:
            return
        self._next_prune = self._monotonic() + self.ttl
        horizon = now - timedelta(seconds=self.ttl * NODE_RETENTION_TTLS)
        try:
            for node in self._store.list_nodes():
                if node.last_seen < horizon and node.id != self.node_id:
                    self._store.remove_node(node.id)
                    log.info("removed node %s, last seen %s", node.id, node.last_seen.isoformat())
        except Exception:
            log.exception("could not prune stale nodes; trying again in %.0fs", self.ttl)

    def _loop(self, wait: float) -> None:
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            wait = self.tick()
