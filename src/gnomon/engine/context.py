"""The `run` object handed to Python targets: who is running, a captured logger, a cancel flag."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from gnomon.domain import Run, TriggerSource
from gnomon.engine.output import OutputBuffer, routing_suspended
from gnomon.store.base import Store

_LINE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _utc_formatter() -> logging.Formatter:
    formatter = logging.Formatter(_LINE_FORMAT)
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    return formatter


class _BufferHandler(logging.Handler):
    """Writes formatted records into a run's output buffer (or, in a child process, the stream
    the parent captures)."""

    def __init__(self, buffer: OutputBuffer | TextIO, level: int) -> None:
        super().__init__(level)
        self.buffer = buffer
        self.setFormatter(_utc_formatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class _RunLogger(logging.Logger):
    """A logger that lives only as long as its run.

    It is built directly, not through ``logging.getLogger``: the logging manager keeps every named
    logger forever, so a logger named per run would leak one entry per run. Its parent is the
    registered ``gnomon.jobs.<job_id>`` logger (one per job, a bounded set), so records still
    propagate to whatever handlers operators attach there or higher up. A LoggerAdapter over the
    shared job logger would need a handler on that shared logger per concurrent run, filtering by
    run id, and would change the shared logger's level; a private logger needs neither.
    """

    def callHandlers(self, record: logging.LogRecord) -> None:  # noqa: N802 - overrides logging
        # Handlers up the hierarchy may write to sys.stderr, which is routed into this same run's
        # buffer while the run's thread executes: let them reach the real stream instead, so a
        # record appears in the run's output once (via our handler), not twice.
        with routing_suspended():
            super().callHandlers(record)


def build_run_logger(
    job_id: str, run_id: str, buffer: OutputBuffer | TextIO, level: int
) -> logging.Logger:
    """A logger capturing records at ``level`` and above into ``buffer``, propagating upwards."""
    job_logger = logging.getLogger(f"gnomon.jobs.{job_id}")
    logger = _RunLogger(job_logger.name, level)
    logger.parent = job_logger
    logger.propagate = True
    logger.addHandler(_BufferHandler(buffer, level))

    def tag(record: logging.LogRecord) -> bool:
        record.gnomon_run_id = run_id  # lets handlers elsewhere tell concurrent runs apart
        return True

    logger.addFilter(tag)
    return logger


@dataclass(frozen=True)
class RunContext:
    """What a Python target that accepts a ``run`` keyword receives.

    ``logger`` records (INFO and above unless configured otherwise) land in the run's output and
    also propagate to the ``gnomon.jobs.<job_id>`` logger. Long-running targets should poll
    ``cancelled`` and return early when it turns true (on cancel or timeout).
    """

    run_id: str
    job_id: str
    trigger_source: TriggerSource
    scheduled_for: datetime | None  # UTC; None for manual runs
    created_by: int | None  # user id for manual runs
    logger: logging.Logger
    cancel_event: threading.Event
    # The store the scheduler runs against, for gnomon's own shipped jobs (e.g. prune_runs).
    store: Store | None = None
    attempt: int = 1  # 1 for a fire's (or manual run's) first run; n + 1 for a retry of n
    retry_of: str | None = None  # for a retry: the id of the run it retries

    @property
    def cancelled(self) -> bool:
        """True once the run has been asked to stop (cancelled by someone, or timed out)."""
        return self.cancel_event.is_set()

    @classmethod
    def for_run(
        cls,
        run: Run,
        buffer: OutputBuffer,
        cancel_event: threading.Event,
        *,
        log_level: int = logging.INFO,
        store: Store | None = None,
    ) -> RunContext:
        """The context of ``run``, logging into ``buffer`` and watching ``cancel_event``."""
        return cls(
            run_id=run.id,
            job_id=run.job_id,
            trigger_source=run.trigger_source,
            scheduled_for=run.scheduled_for,
            created_by=run.created_by,
            logger=build_run_logger(run.job_id, run.id, buffer, log_level),
            cancel_event=cancel_event,
            store=store,
            attempt=run.attempt,
            retry_of=run.retry_of,
        )
