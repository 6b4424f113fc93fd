"""Retries: the next attempt of a run that ended in one of its job's `retry_on` statuses.

A retry is a run record of its own (trigger source `retry`, `attempt` n + 1, `retry_of` the
attempt it follows), inserted queued with no node in the same transaction as the failed
attempt's final status (RunUpdate.retry), and started by the leader once its backoff is over
(Store.claim_queued_manual_runs): it survives restarts and failover, waits while its job is
paused or has max_instances runs going, and is cancelled with the run it retries.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from gnomon.domain import JobDefinition, Run, RunStatus, RunUpdate, TriggerSource
from gnomon.engine.planning import new_run_id

#: Up to this share of the backoff is added at random, so that the retries of many jobs that
#: failed together (a database down) do not all come back at the same instant.
JITTER = 0.1


def retry_after(
    definition: JobDefinition, run: Run, status: RunStatus, now: datetime
) -> Run | None:
    """The next attempt of `run`, which has just ended with `status` at `now`, or None when its
    job does not retry that outcome or its attempts are used up."""
    policy = definition.retry
    if status not in policy.on or run.attempt > policy.retries:
        return None
    delay = policy.delay(run.attempt)
    delay += random.uniform(0, delay * JITTER)  # noqa: S311 - spread, not secrecy
    return Run(
        id=new_run_id(),
        job_id=run.job_id,
        trigger_source=TriggerSource.RETRY,
        status=RunStatus.QUEUED,
        queued_at=now,
        attempt=run.attempt + 1,
        retry_of=run.id,
        not_before=now + timedelta(seconds=delay),
    )


def with_retry(update: RunUpdate, definition: JobDefinition, run: Run) -> RunUpdate:
    """`update`, the final status of `run`, carrying the retry it calls for (if any)."""
    now = update.finished_at
    if now is None:
        return update
    retry = retry_after(definition, run, update.status, now)
    return update if retry is None else replace(update, retry=retry)
