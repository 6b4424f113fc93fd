"""Jobs gnomon itself ships, declared like any job in the config file."""

from __future__ import annotations

from typing import Any

PRUNE_RUNS_ID = "gnomon.prune_runs"


def shipped_declarations(run_retention_days: int) -> list[dict[str, Any]]:
    """The `[[jobs]]` tables of the shipped jobs; a config entry with the same id adjusts one."""
    return [
        {
            "id": PRUNE_RUNS_ID,
            "name": "Prune old run records",
            "description": f"Deletes finished run records older than {run_retention_days} days.",
            "target": "gnomon.jobs.prune:prune_runs",
            "kwargs": {"retention_days": run_retention_days},
            "public_kwargs": True,  # a number of days: nothing to hide from viewers
            "trigger": {"type": "cron", "expression": "0 0 4 * * *"},
            # It uses the scheduler's store: [scheduler] isolation = "process" must not move it.
            "isolation": "thread",
            # Likewise gnomon's own housekeeping runs on the scheduler, not on Celery workers.
            "executor": "local",
        }
    ]
