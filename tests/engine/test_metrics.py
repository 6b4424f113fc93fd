"""EngineMetrics: Prometheus figures in a registry of each instance's own."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.engine.metrics import EngineMetrics


def sample(metrics: EngineMetrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


def test_hooks_update_their_figures() -> None:
    metrics = EngineMetrics()
    metrics.fired("a", 0.3)
    metrics.fired("a", -1.0)  # clock skew never makes a negative lag
    metrics.finished("a", "succeeded")
    metrics.finished("a", "failed")
    metrics.missed("a", 3)
    metrics.skipped("a", 2)
    metrics.set_leader(True)
    metrics.set_queue_depth(4)
    assert sample(metrics, "gnomon_fire_lag_seconds_count", job_id="a") == 2
    assert sample(metrics, "gnomon_fire_lag_seconds_sum", job_id="a") == 0.3
    assert sample(metrics, "gnomon_runs_total", job_id="a", status="failed") == 1
    assert sample(metrics, "gnomon_missed_fires_total", job_id="a") == 3
    assert sample(metrics, "gnomon_skipped_fires_total", job_id="a") == 2
    assert sample(metrics, "gnomon_scheduler_leader") == 1
    assert sample(metrics, "gnomon_queue_depth") == 4
    metrics.set_leader(False)
    assert sample(metrics, "gnomon_scheduler_leader") == 0


def test_instances_never_share_figures_nor_touch_the_global_registry() -> None:
    first, second = EngineMetrics(), EngineMetrics()
    first.finished("a", "succeeded")
    assert sample(second, "gnomon_runs_total", job_id="a", status="succeeded") is None
    assert REGISTRY.get_sample_value("gnomon_scheduler_leader") is None
    assert b"gnomon_runs_total" in first.exposition()


def test_run_durations_running_gauge_and_last_success_and_failure() -> None:
    metrics = EngineMetrics()
    metrics.fired("a", 0.0)
    metrics.fired("a", 0.0)
    assert sample(metrics, "gnomon_runs_running") == 2
    before = time.time()
    metrics.finished("a", "succeeded", 1.25)
    metrics.finished("a", "timed_out", 3.0)
    metrics.finished("a", "cancelled")  # cancelled before it started: it never counted
    assert sample(metrics, "gnomon_runs_running") == 0
    assert sample(metrics, "gnomon_run_duration_seconds_count", job_id="a") == 2
    assert sample(metrics, "gnomon_run_duration_seconds_sum", job_id="a") == 4.25
    success = sample(metrics, "gnomon_last_success_timestamp_seconds", job_id="a")
    failure = sample(metrics, "gnomon_last_failure_timestamp_seconds", job_id="a")
    assert success is not None and failure is not None and min(success, failure) >= before
    metrics.finished("b", "cancelled", 0.5)  # a cancel is no failure
    assert sample(metrics, "gnomon_last_failure_timestamp_seconds", job_id="b") is None
    metrics.interrupted("b", "r1", "the node executing it stopped or was lost")
    assert sample(metrics, "gnomon_last_failure_timestamp_seconds", job_id="b") is not None


RETRY = Run(
    id="r-2", job_id="a", trigger_source=TriggerSource.RETRY, status=RunStatus.QUEUED,
    queued_at=datetime(2026, 1, 1, tzinfo=UTC), attempt=2, retry_of="r-1",
)  # fmt: skip


def test_retries_are_counted_per_job() -> None:
    metrics = EngineMetrics()
    assert b"# TYPE gnomon_retries_total counter" in metrics.exposition()
    metrics.retried(RETRY)
    assert sample(metrics, "gnomon_retries_total", job_id="a") == 1


def test_a_single_process_shows_its_process_figures() -> None:
    text = EngineMetrics().exposition()
    for name in (b"process_cpu_seconds_total", b"python_info", b"python_gc_objects_collected"):
        assert name in text


def test_a_jobs_series_appear_once_used_and_keep_counting_across_jobs_and_statuses() -> None:
    metrics = EngineMetrics()
    metrics.fired("a", 0.1)
    metrics.finished("a", "succeeded", 0.2)
    # Only what was used shows: a job that never failed has no last-failure series.
    assert sample(metrics, "gnomon_last_failure_timestamp_seconds", job_id="a") is None
    assert sample(metrics, "gnomon_fire_lag_seconds_count", job_id="b") is None
    metrics.finished("a", "failed", 0.1)
    metrics.finished("b", "cancelled")  # never fired: no duration, no running change
    metrics.fired("a", 0.3)
    assert sample(metrics, "gnomon_fire_lag_seconds_count", job_id="a") == 2
    assert sample(metrics, "gnomon_runs_total", job_id="a", status="succeeded") == 1
    assert sample(metrics, "gnomon_runs_total", job_id="a", status="failed") == 1
    assert sample(metrics, "gnomon_runs_total", job_id="b", status="cancelled") == 1
    assert sample(metrics, "gnomon_run_duration_seconds_count", job_id="a") == 2
    assert sample(metrics, "gnomon_run_duration_seconds_count", job_id="b") is None
    assert sample(metrics, "gnomon_last_failure_timestamp_seconds", job_id="a") is not None
    assert sample(metrics, "gnomon_last_success_timestamp_seconds", job_id="b") is None
