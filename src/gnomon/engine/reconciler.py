"""Keeping the store's queued and running runs and what the nodes execute in agreement.

Three checks, each a guarded transition in the store: a node elected leader adopts the queued
runs its predecessors claimed or picked up and never started (runs them within their grace, or
records them missed, reason leader_lost); every node compares, once per lease time, the runs the
store says it owns with what it executes; and the leader marks interrupted the runs of nodes
silent for two lease times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from gnomon.domain import JobRecord, Lease, MissReason, Run, RunStatus, TriggerSource
from gnomon.engine.observe import EngineMetricsProtocol
from gnomon.engine.planning import no_longer_due
from gnomon.engine.recorder import RunRecorder
from gnomon.engine.runs import ActiveRuns
from gnomon.store.base import Store
from gnomon.triggers import load_trigger

log = logging.getLogger(__name__)


class Reconciler:
    """Adoption at takeover, this node's own runs each lease time, and runs of nodes gone."""

    def __init__(
        self,
        store: Store,
        runs: ActiveRuns,
        recorder: RunRecorder,
        metrics: EngineMetricsProtocol,
        *,
        node_id: str,
        lease_ttl: float,
        job_of: Callable[[str], JobRecord | None],
        is_leader: Callable[[], bool],
    ) -> None:
        """`job_of(job_id)`: the job as the scheduler knows it now (None: gone)."""
        self._store = store
        self._runs = runs
        self._recorder = recorder
        self._metrics = metrics
        self._node_id = node_id
        self._lease_ttl = lease_ttl
        self._job_of = job_of
        self._is_leader = is_leader
        self._next_reconcile = 0.0
        self._next_orphan_check = 0.0
        self._suspects: set[str] = set()  # runs found lost by the last reconciliation

    def reconcile_due(self) -> bool:
        return time.monotonic() >= self._next_reconcile

    def orphans_due(self) -> bool:
        return time.monotonic() >= self._next_orphan_check

    def adopt(self, lease: Lease) -> list[Run]:
        """Take over the queued runs earlier leaders claimed or picked up and never started:
        they are run if still within their grace (a fire claimed ahead, at its time), else
        recorded missed (reason leader_lost)."""
        adopted = self._store.adopt_runs(self._node_id, lease)
        if adopted:
            log.warning("adopted %d run(s) earlier leaders did not start", len(adopted))
        return adopted

    def resume_queued(self, run: Run, now: datetime) -> None:
        """Start a queued run of this node that nothing here executes, or close it."""
        record = self._job_of(run.job_id)
        if record is None:
            self._runs.end_unstarted(
                run, RunStatus.SKIPPED, MissReason.JOB_CHANGED, "the job is gone"
            )
            return
        if run.trigger_source is TriggerSource.RETRY and record.paused:
            # A retry waits while its job is paused: back, untaken, to the leader's queue.
            self._store.release_retries([run.id], self._node_id)
            return
        if run.scheduled_for is None:
            self._runs.start(record, run)
            return
        changed = _no_longer_due(record, run.scheduled_for)
        if changed is not None:
            self._runs.end_unstarted(run, RunStatus.SKIPPED, MissReason.JOB_CHANGED, changed)
            return
        latest = run.last_scheduled_for or run.scheduled_for
        grace = record.definition.misfire_grace_time
        if (now - latest).total_seconds() > grace:
            why = f"its leader lost the lease before starting it, {grace}s grace ago or more"
            self._runs.end_unstarted(
                run, RunStatus.MISSED, MissReason.LEADER_LOST, why, record.definition.alerting
            )
            return
        self._runs.start(record, run, run.scheduled_for if run.scheduled_for > now else None)

    def reconcile(self, now: datetime, *, at_takeover: bool = False) -> None:
        """Compare the runs the store says this node owns with what it executes. A queued run
        nothing here will start is started (if still due) or closed; a running run nothing
        here executes is interrupted. Only after two looks, a lease time apart, so that an
        update on its way to the store is not taken for a loss (at takeover, queued runs at
        once: nothing of this term has started yet)."""
        self._next_reconcile = time.monotonic() + self._lease_ttl
        # What executes here is taken before the store is read: a run that ends in between is
        # then final in the store, not taken for lost. (New runs come only from this thread.)
        executing = set(self._runs.ids()) | self._recorder.pending_ids()
        # Ids only: with thousands of fires claimed ahead, reading every owned run in full
        # would stall the scheduler's thread each lease time. Only the lost are read in full.
        owned = self._store.owned_active_ids(self._node_id)
        if not owned:
            self._suspects = set()
            return
        lost = self._read_lost([run_id for run_id in owned if run_id not in executing])
        suspects = {run.id for run in lost}
        leader = self._is_leader()
        for run in lost:
            confirmed = run.id in self._suspects
            if run.status is RunStatus.QUEUED and leader and (confirmed or at_takeover):
                log.warning(
                    "run %s of job %s was left queued here; resuming it", run.id, run.job_id
                )
                self.resume_queued(run, now)
                suspects.discard(run.id)
            elif run.status is RunStatus.RUNNING and confirmed:
                record = self._job_of(run.job_id)
                why = "the node executing it lost track of it"
                self._runs.interrupt(run, why, now, None if record is None else record.definition)
                suspects.discard(run.id)
        self._suspects = suspects

    def _read_lost(self, run_ids: list[str]) -> list[Run]:
        """The runs, read in full, oldest first; a run gone meanwhile is left out."""
        lost: list[Run] = []
        for run_id in run_ids:
            run = self._store.find_run(run_id)
            if run is not None:
                lost.append(run)
        return sorted(lost, key=lambda run: (run.queued_at, run.id))

    def interrupt_orphans(self, now: datetime) -> None:
        """Runs left active by nodes that are gone can never finish: mark them interrupted.

        Checked on taking over and then once per lease time: a node counts as gone when its
        heartbeat is older than two lease times.
        """
        self._next_orphan_check = time.monotonic() + self._lease_ttl
        # Heartbeats are written on the store's clock: judge them on it too.
        horizon = self._store.current_time() - timedelta(seconds=self._lease_ttl * 2)
        live = {n.id for n in self._store.list_nodes() if n.last_seen >= horizon}
        live.add(self._node_id)
        reason = "the node executing it stopped or was lost"
        runs = self._store.interrupt_runs(now, reason, keep_nodes=live)
        if runs:
            log.warning("marked %d orphaned run(s) interrupted", len(runs))
        for run in runs:
            self._metrics.interrupted(run.job_id, run.id, run.reason or reason, run=run)
            # The store queued the retries their jobs call for in the same transaction.
            retry = self._store.find_retry(run.id)
            if retry is not None:
                self._metrics.retried(retry)


def _no_longer_due(record: JobRecord, when: datetime) -> str | None:
    """Why a fire claimed by an earlier leader no longer belongs to its job, or None."""
    try:
        trigger = load_trigger(record.trigger)
    except Exception:
        return "the job's trigger cannot be read"
    return no_longer_due(record, trigger, when)
