"""The `run` object handed to Python targets: who is running, a captured logger, a cancel flag."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from gnomon.domain import Run, TriggerSource
from gnomon.engine.output import OutputBuffer, routing_suspended
from gnomon.store.base import Store

_LINE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _RunLineFormatter(logging.Formatter):
    """`<UTC time to the millisecond> <LEVEL> <message>`, as ``logging.Formatter(_LINE_FORMAT)``
    with a UTC converter writes it (exceptions and stacks appended the same way), for less: the
    text of the current second is kept, and the line is put together without a %-format."""

    def __init__(self) -> None:
        super().__init__(_LINE_FORMAT)
        self._second: tuple[int, str] = (-1, "")  # replaced whole: safe to read from any thread

    def usesTime(self) -> bool:  # noqa: N802 - overrides logging
        return True

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        kept = self._second
        if kept[0] != second:
            kept = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{kept[1]}.{int(record.msecs):03d}Z"

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - overrides logging
        return f"{record.asctime} {record.levelname} {record.message}"


#: One formatter for every run's lines (it keeps only the text of the current second).
_FORMATTER = _RunLineFormatter()


class _RunLogger(logging.Logger):
    """A logger that lives only as long as its run, writing its records into the run's output.

    It is built directly, not through ``logging.getLogger``: the logging manager keeps every named
    logger forever, so a logger named per run would leak one entry per run. Its parent is the
    registered ``gnomon.jobs.<job_id>`` logger (one per job, a bounded set), so records still
    propagate to whatever handlers operators attach there or higher up. A LoggerAdapter over the
    shared job logger would need a handler on that shared logger per concurrent run, filtering by
    run id, and would change the shared logger's level; a private logger needs neither.

    It writes to the run's output itself rather than through a logging.Handler of its own: a
    handler is registered in logging's global list, under its global lock, and carries a lock of
    its own, which every run paid for even when it never logged.
    """

    def __init__(
        self, parent: logging.Logger, run_id: str, output: OutputBuffer | TextIO, level: int
    ) -> None:
        super().__init__(parent.name, level)
        self.parent = parent
        self.propagate = True
        self._run_id = run_id
        self._output = output

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - overrides logging
        # logging's own caches each answer per logger, filling it under logging's global lock:
        # a logger new with every run took that lock on its first call, in every worker thread
        # at once when a burst of runs started. Its level is its own (never inherited), so the
        # answer needs no cache.
        if self.level == logging.NOTSET:
            return super().isEnabledFor(level)
        return not self.disabled and level >= self.level and self.manager.disable < level

    def callHandlers(self, record: logging.LogRecord) -> None:  # noqa: N802 - overrides logging
        record.gnomon_run_id = self._run_id  # lets handlers elsewhere tell concurrent runs apart
        try:
            self._output.write(_FORMATTER.format(record) + "\n")
        except Exception:  # as logging.Handler.handleError: never fail the caller
            if logging.raiseExceptions:
                with routing_suspended():
                    traceback.print_exc()
        if not self.handlers and not _handled_above(self):
            return  # no handler here or above: nothing for logging's last resort either
        # Handlers up the hierarchy may write to sys.stderr, which is routed into this same run's
        # buffer while the run's thread executes: let them reach the real stream instead, so a
        # record appears in the run's output once (written above), not twice.
        with routing_suspended():
            super().callHandlers(record)


def _handled_above(logger: logging.Logger) -> bool:
    """Whether a record propagating from `logger` meets a handler (logging would otherwise
    print WARNING and above itself, as its last resort)."""
    found: logging.Logger | None = logger.parent if logger.propagate else None
    while found is not None:
        if found.handlers:
            return True
        found = found.parent if found.propagate else None
    return False


#: Each job's registered logger, found without logging.getLogger's global lock (the set of
#: jobs is bounded, and logging keeps these loggers for good anyway).
_job_loggers: dict[str, logging.Logger] = {}


def job_logger(job_id: str) -> logging.Logger:
    """The ``gnomon.jobs.<job_id>`` logger, which every run logger of the job propagates to."""
    found = _job_loggers.get(job_id)
    if found is None:
        found = _job_loggers[job_id] = logging.getLogger(f"gnomon.jobs.{job_id}")
    return found


def build_run_logger(
    job_id: str, run_id: str, buffer: OutputBuffer | TextIO, level: int
) -> logging.Logger:
    """A logger capturing records at ``level`` and above into ``buffer``, propagating upwards."""
    return _RunLogger(job_logger(job_id), run_id, buffer, level)


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
