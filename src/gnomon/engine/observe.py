"""What the scheduler reports as it works: the metrics hooks it calls, and a no-op default.

The scheduler calls these on its hot paths (once per run started and per run finished), so an
implementation must be cheap and must never block or raise; engine/metrics.py is the Prometheus one.
"""

from __future__ import annotations

from typing import Protocol


class EngineMetricsProtocol(Protocol):
    """The hooks the scheduler calls. Job ids label the figures; statuses are RunStatus values."""

    def fired(self, job_id: str, lateness_s: float) -> None:
        """A run started, `lateness_s` seconds after its scheduled time (0 for manual runs)."""

    def finished(self, job_id: str, status: str) -> None:
        """A run ended with final status `status`."""

    def missed(self, job_id: str, count: int) -> None:
        """A `missed` record covering `count` fire times was claimed."""

    def skipped(self, job_id: str, count: int) -> None:
        """A `skipped` record covering `count` fire times was claimed (max_instances)."""

    def refused(self, status: str, count: int) -> None:
        """The store refused `count` run transitions to `status` (a guarded write that found
        the run in another status or owned by another node)."""

    def thread_restarted(self, thread: str) -> None:
        """A background thread of the scheduler had ended and was started again."""

    def set_leader(self, is_leader: bool) -> None:
        """This scheduler gained (True) or lost (False) the leadership lease."""

    def set_queue_depth(self, depth: int) -> None:
        """Runs handed to this process's worker pool and not finished yet."""


class NullMetrics:
    """Ignores every report: the default when no metrics are wanted."""

    def fired(self, job_id: str, lateness_s: float) -> None:
        pass

    def finished(self, job_id: str, status: str) -> None:
        pass

    def missed(self, job_id: str, count: int) -> None:
        pass

    def skipped(self, job_id: str, count: int) -> None:
        pass

    def refused(self, status: str, count: int) -> None:
        pass

    def thread_restarted(self, thread: str) -> None:
        pass

    def set_leader(self, is_leader: bool) -> None:
        pass

    def set_queue_depth(self, depth: int) -> None:
        pass
