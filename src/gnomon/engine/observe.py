"""What the scheduler reports as it works: the metrics hooks it calls, and a no-op default.

The scheduler calls these on its hot paths (once per run started and per run finished), so an
implementation must be cheap and must never block or raise; engine/metrics.py is the Prometheus one.
The scheduler puts engine/runlog.py's RunLogReports in front of whichever it is given, so runs
that never ran or were interrupted are logged as well as counted. The hooks about one run also
get the run (and how it ended) where the caller has it: gnomon/events.py turns them into the
events an embedding application listens to.
"""

from __future__ import annotations

from typing import Protocol

from gnomon.domain import MissReason, Run, RunUpdate


class EngineMetricsProtocol(Protocol):
    """The hooks the scheduler calls. Job ids label the figures; statuses are RunStatus values."""

    def fired(self, job_id: str, lateness_s: float, *, run: Run | None = None) -> None:
        """A run (`run`) started executing, `lateness_s` seconds after its scheduled time (0 for
        manual runs). It executes until reported `finished` with a duration."""

    def finished(
        self,
        job_id: str,
        status: str,
        duration_s: float | None = None,
        *,
        run: Run | None = None,
        update: RunUpdate | None = None,
    ) -> None:
        """A run (`run`) ended with final status `status`, as `update` records it. `duration_s`,
        how long it executed, is given exactly for the runs reported `fired` (not for one
        cancelled before it started)."""

    def missed(
        self,
        job_id: str,
        count: int,
        *,
        reason: str | None = None,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        """A `missed` record (`run`) covering `count` fire times was claimed; `reason` a
        MissReason value (None: not said)."""

    def skipped(
        self,
        job_id: str,
        count: int,
        *,
        reason: str = MissReason.MAX_INSTANCES.value,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        """A `skipped` record (`run`) covering `count` fire times was claimed: the job had
        max_instances runs going, unless `reason` (a MissReason value) says otherwise."""

    def interrupted(self, job_id: str, run_id: str, reason: str, *, run: Run | None = None) -> None:
        """A run (`run`) was recorded `interrupted` (its node stopped, lost it or lost the
        lease)."""

    def retried(self, retry: Run) -> None:
        """The store queued `retry`, the next attempt of a run that ended in a way its job
        retries (reported once the store has accepted that ending, never before)."""

    def refused(self, status: str, count: int) -> None:
        """The store refused `count` run transitions to `status` (a guarded write that found
        the run in another status or owned by another node)."""

    def thread_restarted(self, thread: str) -> None:
        """A background thread of the scheduler had ended and was started again."""

    def set_leader(self, is_leader: bool) -> None:
        """This scheduler gained (True) or lost (False) the leadership lease."""

    def set_broker_up(self, up: bool) -> None:
        """Sending a run to the Celery broker succeeded (True) or failed (False)."""

    def set_queue_depth(self, depth: int) -> None:
        """Runs handed to this process's worker pool and not finished yet."""

    def delivery_attempted(self, channel: str, result: str) -> None:
        """A notification was sent to `channel` once: `result` is "delivered", "retrying" (it
        failed and will be tried again) or "given_up"."""

    def set_delivery_queue(self, depth: int) -> None:
        """Notifications pending in the outbox (seen by the leader delivering them)."""


class NullMetrics:
    """Ignores every report: the default when no metrics are wanted."""

    def fired(self, job_id: str, lateness_s: float, *, run: Run | None = None) -> None:
        pass

    def finished(
        self,
        job_id: str,
        status: str,
        duration_s: float | None = None,
        *,
        run: Run | None = None,
        update: RunUpdate | None = None,
    ) -> None:
        pass

    def missed(
        self,
        job_id: str,
        count: int,
        *,
        reason: str | None = None,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        pass

    def skipped(
        self,
        job_id: str,
        count: int,
        *,
        reason: str = MissReason.MAX_INSTANCES.value,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        pass

    def interrupted(self, job_id: str, run_id: str, reason: str, *, run: Run | None = None) -> None:
        pass

    def retried(self, retry: Run) -> None:
        pass

    def refused(self, status: str, count: int) -> None:
        pass

    def thread_restarted(self, thread: str) -> None:
        pass

    def set_leader(self, is_leader: bool) -> None:
        pass

    def set_broker_up(self, up: bool) -> None:
        pass

    def set_queue_depth(self, depth: int) -> None:
        pass

    def delivery_attempted(self, channel: str, result: str) -> None:
        pass

    def set_delivery_queue(self, depth: int) -> None:
        pass
