"""Retries: the next attempt of a run that ended in one of its job's `retry_on` statuses.

A retry is a run record of its own (trigger source `retry`, `attempt` n + 1, `retry_of` the
attempt it follows), inserted queued with no node in the same transaction as the failed
attempt's final status (RunUpdate.retry; RetryPolicy.next_attempt makes it), and started by the
leader once its backoff is over (Store.claim_queued_manual_runs): it survives restarts and
failover, waits while its job is paused or has max_instances runs going, and is cancelled with
the run it retries. Runs the store itself records interrupted (their node gone) get theirs there.
"""

from __future__ import annotations

from dataclasses import replace

from gnomon.domain import JobDefinition, Run, RunUpdate


def with_retry(update: RunUpdate, definition: JobDefinition, run: Run) -> RunUpdate:
    """`update`, the final status of `run`, carrying the retry its job calls for (if any)."""
    now = update.finished_at
    if now is None:
        return update
    retry = definition.retry.next_attempt(run, update.status, now)
    return update if retry is None else replace(update, retry=retry)
