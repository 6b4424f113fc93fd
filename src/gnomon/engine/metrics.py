"""Prometheus metrics of the engine: fire lag, runs by outcome and duration, the last success and
failure of each job, runs executing, misses, leadership, queue depth; and the process's own.

Under `gnomon serve --workers N` every worker is a scheduler node with metrics of its own, and a
scrape reaches any one of them. There the server sets PROMETHEUS_MULTIPROC_DIR before any worker
imports prometheus_client, which then keeps every worker's values in files of that directory,
and /metrics shows them summed over the workers (see `multiprocess_dir`). The process collectors
(CPU, memory, file descriptors, garbage collection) describe one process, so they are shown
in a single process only: summed over workers they would mean nothing.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from gnomon.domain import MissReason, Run, RunStatus, RunUpdate

#: prometheus_client's own switch to multiprocess mode, read when it is first imported; set by
#: `gnomon serve` (cli/serve.py) before that.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory shared by the worker processes' metrics, or None in a single process."""
    return os.environ.get(MULTIPROC_ENV) or None


# Fire lag: from the scheduled instant to the run being handed to the pool. Sub-second when
# healthy; the long tail shows an overloaded pool or a paused process.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Run durations: from jobs of a few milliseconds to jobs of hours.
DURATION_BUCKETS = (
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0,
    6 * 3600.0,
)  # fmt: skip
#: The outcomes that count as a job's failure for `gnomon_last_failure_timestamp_seconds`
#: (a cancel is someone's decision; missed and skipped fires have counters of their own).
FAILURES = frozenset({RunStatus.FAILED.value, RunStatus.TIMED_OUT.value})


class _Series:
    """A labelled metric's series, each looked up once: `labels()` takes a lock and checks its
    arguments, a microsecond or more at every run. A series appears when first used, as with
    `labels()`; gnomon never removes one."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._series: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = self._metric.labels(*values)
        return series


class EngineMetrics:
    """The engine's metrics in a registry of their own (never the global default registry), so
    several schedulers or apps in one process, as in tests, never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._fire_lag = Histogram(
            "gnomon_fire_lag_seconds",
            "Delay between a fire time and the run being started.",
            ["job_id"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._runs = Counter(
            "gnomon_runs",
            "Runs that ended, by job and outcome.",
            ["job_id", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "gnomon_run_duration_seconds",
            "How long runs executed, by job (every outcome).",
            ["job_id"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # Timestamps outlive the worker that set them (a restarted worker keeps the figure):
        # the highest of every worker's, dead ones included.
        self._last_success = Gauge(
            "gnomon_last_success_timestamp_seconds",
            "When a run of the job last succeeded (Unix time).",
            ["job_id"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self._last_failure = Gauge(
            "gnomon_last_failure_timestamp_seconds",
            "When a run of the job last failed, timed out or was interrupted (Unix time).",
            ["job_id"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self._running = Gauge(
            "gnomon_runs_running",
            "Runs executing now (in this process, or summed over the server's workers).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._retries = Counter(
            "gnomon_retries",
            "Retries queued after a failed run, by job.",
            ["job_id"],
            registry=self.registry,
        )
        self._missed = Counter(
            "gnomon_missed_fires",
            "Fire times not run because they were too late.",
            ["job_id"],
            registry=self.registry,
        )
        self._skipped = Counter(
            "gnomon_skipped_fires",
            "Fire times refused because the job had max_instances runs in progress.",
            ["job_id"],
            registry=self.registry,
        )
        self._refused = Counter(
            "gnomon_run_transitions_refused",
            "Run status changes the store refused (the run had moved on or belonged to another "
            "node), by the status asked for.",
            ["status"],
            registry=self.registry,
        )
        self._restarts = Counter(
            "gnomon_thread_restarts",
            "Background threads of the scheduler that had ended and were started again.",
            ["thread"],
            registry=self.registry,
        )
        self._leader = Gauge(
            "gnomon_scheduler_leader",
            "1 while this server's scheduler (any of its workers') holds the lease, else 0.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._broker_up = Gauge(
            "gnomon_broker_up",
            "While this server sends runs to a Celery broker: 1 if the last send succeeded, "
            "0 if it failed (broker unreachable).",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self._queue_depth = Gauge(
            "gnomon_queue_depth",
            "Runs waiting for a free worker in this process's pool (summed over workers).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._deliveries = Counter(
            "gnomon_deliveries",
            "Notification sends by channel and result (delivered, retrying, given_up).",
            ["channel", "result"],
            registry=self.registry,
        )
        self._delivery_queue = Gauge(
            "gnomon_delivery_queue_depth",
            "Notifications pending in the outbox, as the leader delivering them saw last.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._nodes = Gauge(
            "gnomon_nodes",
            "Scheduler nodes registered with the store.",
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        # The series every run updates (see _Series).
        self._lag_of = _Series(self._fire_lag)
        self._runs_of = _Series(self._runs)
        self._duration_of = _Series(self._duration)
        self._last_success_of = _Series(self._last_success)
        self._last_failure_of = _Series(self._last_failure)
        if multiprocess_dir() is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def fired(self, job_id: str, lateness_s: float, *, run: Run | None = None) -> None:
        self._lag_of(job_id).observe(max(0.0, lateness_s))
        self._running.inc()

    def finished(
        self,
        job_id: str,
        status: str,
        duration_s: float | None = None,
        *,
        run: Run | None = None,
        update: RunUpdate | None = None,
    ) -> None:
        self._runs_of(job_id, status).inc()
        if duration_s is not None:  # it had started executing (fired)
            self._running.dec()
            self._duration_of(job_id).observe(max(0.0, duration_s))
        if status == RunStatus.SUCCEEDED.value:
            self._last_success_of(job_id).set(time.time())
        elif status in FAILURES:
            self._last_failure_of(job_id).set(time.time())

    def missed(
        self,
        job_id: str,
        count: int,
        *,
        reason: str | None = None,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        self._missed.labels(job_id=job_id).inc(count)

    def skipped(
        self,
        job_id: str,
        count: int,
        *,
        reason: str = MissReason.MAX_INSTANCES.value,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        self._skipped.labels(job_id=job_id).inc(count)

    def interrupted(self, job_id: str, run_id: str, reason: str, *, run: Run | None = None) -> None:
        self._last_failure_of(job_id).set(time.time())

    def retried(self, retry: Run) -> None:
        """Counts a retry in `gnomon_retries_total`, once per retry queued."""
        self._retries.labels(job_id=retry.job_id).inc()

    def refused(self, status: str, count: int) -> None:
        self._refused.labels(status=status).inc(count)

    def thread_restarted(self, thread: str) -> None:
        self._restarts.labels(thread=thread).inc()

    def set_leader(self, is_leader: bool) -> None:
        self._leader.set(1 if is_leader else 0)

    def set_queue_depth(self, depth: int) -> None:
        self._queue_depth.set(depth)

    def set_broker_up(self, up: bool) -> None:
        self._broker_up.set(1 if up else 0)

    def delivery_attempted(self, channel: str, result: str) -> None:
        self._deliveries.labels(channel=channel, result=result).inc()

    def set_delivery_queue(self, depth: int) -> None:
        self._delivery_queue.set(depth)

    def set_nodes(self, count: int) -> None:
        self._nodes.set(count)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (of every worker, in multiprocess mode)."""
        shared = multiprocess_dir()
        if shared is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
