"""EngineMetrics: Prometheus figures in a registry of each instance's own."""

from __future__ import annotations

from prometheus_client import REGISTRY

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
