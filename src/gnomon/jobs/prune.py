"""The shipped job `gnomon.prune_runs`: delete finished run records past the retention."""

from __future__ import annotations

from datetime import timedelta

from gnomon.domain import utcnow
from gnomon.engine.context import RunContext


def prune_runs(run: RunContext, retention_days: int) -> int:
    """Delete final run records queued more than `retention_days` ago; returns how many."""
    if run.store is None:
        raise RuntimeError("prune_runs must be run by the gnomon scheduler (it needs the store)")
    cutoff = (run.scheduled_for or utcnow()) - timedelta(days=retention_days)
    deleted = run.store.prune_runs(cutoff)
    run.logger.info("deleted %d run record(s) queued before %s", deleted, cutoff.isoformat())
    return deleted
