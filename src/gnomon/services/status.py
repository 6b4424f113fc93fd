"""Scheduler status: who leads, which nodes are alive, and job counts (SPEC §5.4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gnomon.domain import Node, utcnow
from gnomon.engine.leadership import LEASE_NAME
from gnomon.services.jobs import JobService
from gnomon.store.base import Store


@dataclass(frozen=True)
class JobCounts:
    total: int
    paused: int
    running: int


@dataclass(frozen=True)
class SchedulerStatus:
    """What `GET /scheduler/status` and the node gauge report."""

    leader: str | None  # the node id holding an unexpired lease, else None
    nodes: list[Node]
    jobs: JobCounts

    @property
    def running(self) -> bool:
        return self.leader is not None


class StatusService:
    """Reads leadership, nodes and job counts of one store; changes nothing."""

    def __init__(
        self, store: Store, jobs: JobService, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.jobs = jobs
        self._clock = clock

    def leader(self) -> str | None:
        """The node id of the live leader, or None when no lease is held."""
        lease = self.store.find_lease(LEASE_NAME)
        # Judged on the store's clock, as the lease was written: not this host's, which may be
        # off (on PostgreSQL the server's time; on SQLite every process reads one machine's).
        if lease is None or lease.expires_at <= self.store.current_time():
            return None
        return lease.holder

    def list_nodes(self) -> list[Node]:
        """Every registered node (the store drops the ones that left cleanly)."""
        return self.store.list_nodes()

    def check_ready(self) -> None:
        """Raise StoreNotReady (or another StoreError) unless the store is reachable and current."""
        self.store.check_ready()

    def get_status(self) -> SchedulerStatus:
        views = self.jobs.list_jobs()
        counts = JobCounts(
            total=len(views),
            paused=sum(1 for view in views if view.record.paused),
            running=sum(view.running for view in views),
        )
        return SchedulerStatus(leader=self.leader(), nodes=self.list_nodes(), jobs=counts)
