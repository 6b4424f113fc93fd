"""Overdue alerts: the leader tells a job's channels `overdue` once it has had no success for
longer than its `alert_if_no_success_within`, once per spell without success (the store keeps
what was told, so a restart or a new leader does not tell it again); its next success tells
`recovered` (alerts.events_for)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from gnomon.domain import JobRecord, Lease
from gnomon.store.base import OverdueCheck, Store

log = logging.getLogger(__name__)

#: Seconds between two looks: an `overdue` is told at most this late.
EVERY = 5.0


class OverdueWatch:
    """Looks, every EVERY seconds while leading, for jobs overdue."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime], on_told: Callable[[], None]
    ) -> None:
        """`on_told()`: some job was told overdue (its deliveries are pending)."""
        self._store = store
        self._clock = clock
        self._on_told = on_told
        self._next = 0.0

    def check(self, jobs: Iterable[JobRecord], lease: Lease) -> list[str]:
        """Tell the overdue jobs among `jobs` (when a look is due); the ids of those told.
        Paused jobs, and jobs whose trigger has ended, are not expected to succeed: left out.
        Raises LeaseLost, telling nothing, when the lease is gone."""
        if time.monotonic() < self._next:
            return []
        self._next = time.monotonic() + EVERY
        checks = [
            OverdueCheck(record.id, after, record.definition.notify)
            for record in jobs
            if (after := record.definition.overdue_after) is not None
            and record.definition.notify
            and not record.paused
            and record.next_fire_time is not None
        ]
        if not checks:
            return []
        told = self._store.raise_overdue(checks, self._clock(), lease)
        for job_id in told:
            log.warning("job %s has had no success within its alert_if_no_success_within", job_id)
        if told:
            self._on_told()
        return told
