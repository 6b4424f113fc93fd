"""The WARNING lines that keep runs that did not succeed from passing unnoticed.

A run that executed (or was cancelled before it could) and ended otherwise than `succeeded`
logs one line as it ends: `log_run_end`, called where its outcome is known (engine/runs.py).

Fires that never ran (`missed`, `skipped`) and runs recorded `interrupted` are logged by
RunLogReports, which the scheduler puts in front of its metrics hooks: every such record is
reported there to be counted, so it is logged there too. They come in floods (a job that
overruns its interval has each fire skipped by max_instances; thousands of jobs miss their
fires after an outage), so NotRunLog writes, per job and status, the first line of a minute at
once, with its run id, and counts the others; when the minute ends one line sums them up (how
many, and why). A job skipped a thousand times a second writes one line a minute, not a
thousand a second.

Logger `gnomon.runs`; every line carries job_id, status and run_id (or count) as fields too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from gnomon.domain import MissReason, Run, RunStatus, RunUpdate
from gnomon.engine.observe import EngineMetricsProtocol

log = logging.getLogger("gnomon.runs")

#: Seconds during which a job's further lines of one status are counted, not written.
WINDOW = 60.0
#: The error message's first line is cut to this many characters (the run record has it all).
ERROR_CHARS = 300

_ENDED = {
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "timed out",
    RunStatus.CANCELLED: "was cancelled",
    RunStatus.INTERRUPTED: "was interrupted",
}


def run_duration(update: RunUpdate) -> float | None:
    """Seconds from start to end as the update records them; None if it never started."""
    if update.duration_ms is not None:
        return update.duration_ms / 1000
    if update.started_at is not None and update.finished_at is not None:
        return max(0.0, (update.finished_at - update.started_at).total_seconds())
    return None


def error_summary(error_type: str | None, message: str | None) -> str | None:
    """`ValueError: the first line of its message`, cut to ERROR_CHARS; None without either."""
    lines = (message or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > ERROR_CHARS:
        first = first[: ERROR_CHARS - 1] + "…"
    if error_type and first and first != error_type:
        return f"{error_type}: {first}"
    return error_type or first or None


def log_run_end(run: Run, update: RunUpdate) -> None:
    """One WARNING line for `run` ending as `update` says, unless it succeeded."""
    status = update.status
    if status is RunStatus.SUCCEEDED:
        return
    duration = run_duration(update)
    error = error_summary(update.error_type, update.error_message)
    fields: dict[str, object] = {
        "job_id": run.job_id,
        "run_id": run.id,
        "status": status.value,
        "trigger_source": run.trigger_source.value,
    }
    fields["attempt"] = run.attempt
    text = f"run {run.id} of job {run.job_id}"
    if run.attempt > 1 or update.retry is not None:
        text += f" (attempt {run.attempt})"
    text += f" {_ENDED.get(status, status.value)}"
    if duration is not None:
        fields["duration_s"] = round(duration, 3)
        text += f" after {duration:.3f}s"
    if error is not None:
        fields["error_type"] = update.error_type
        fields["error"] = error
        text += f": {error}"
    if update.exit_code is not None:
        fields["exit_code"] = update.exit_code
    log.warning("%s", text, extra=fields)


def log_retry(retry: Run) -> None:
    """One INFO line for a retry the store has queued (after the run it follows ended)."""
    wait = 0.0
    if retry.not_before is not None:
        wait = max(0.0, (retry.not_before - retry.queued_at).total_seconds())
    fields: dict[str, object] = {
        "job_id": retry.job_id,
        "run_id": retry.retry_of,
        "retry_run_id": retry.id,
        "attempt": retry.attempt,
    }
    log.info(
        "run %s of job %s will retry in %.0fs as attempt %d (run %s)",
        retry.retry_of,
        retry.job_id,
        wait,
        retry.attempt,
        retry.id,
        extra=fields,
    )


@dataclass
class _Window:
    """One job's lines of one status: written until `until` (monotonic), then counted."""

    until: float
    count: int = 0  # fire times (missed, skipped) or runs (interrupted) counted, not written
    reasons: Counter[str] = field(default_factory=Counter)


_Line = tuple[str, dict[str, object]]


class NotRunLog:
    """Lines for fires that never ran and runs interrupted: per job and status, the first of a
    window at once, the rest of the window summed up in one line when it ends."""

    def __init__(
        self,
        window: float = WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
    ) -> None:
        """`timer`: write the sums when windows end (a short-lived thread waits for that);
        without it they are written by `flush()` alone (tests)."""
        self._window = window
        self._clock = clock
        self._use_timer = timer
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, RunStatus], _Window] = {}
        self._timer: threading.Timer | None = None

    def report(
        self,
        job_id: str,
        status: RunStatus,
        count: int,
        *,
        reason: str | None,
        run_id: str | None,
    ) -> None:
        """`count` fire times were recorded `status` (missed, skipped) as run `run_id`, or the
        run was recorded interrupted (count 1), for `reason`."""
        lines: list[_Line] = []
        with self._lock:
            now = self._clock()
            key = (job_id, status)
            window = self._windows.get(key)
            if window is not None and window.until <= now:
                if window.count:
                    lines.append(self._summary(key, window))
                    window = self._windows[key] = _Window(now + self._window)
                else:
                    window = None
            if window is None:
                self._windows[key] = _Window(now + self._window)
                lines.append(_first_line(job_id, status, count, reason, run_id))
            else:
                window.count += count
                window.reasons[reason or "unknown"] += count
                self._arm(window.until - now)
        _write(lines)

    def flush(self) -> None:
        """Sum up the windows that have ended; forget the quiet ones."""
        lines: list[_Line] = []
        with self._lock:
            now = self._clock()
            for key, window in list(self._windows.items()):
                if window.until > now:
                    continue
                if window.count:
                    lines.append(self._summary(key, window))
                    # The flood may go on: its next lines are counted for another window.
                    self._windows[key] = _Window(now + self._window)
                else:
                    del self._windows[key]
            pending = [w.until for w in self._windows.values() if w.count]
            if pending:
                self._arm(min(pending) - now)
        _write(lines)

    def _summary(self, key: tuple[str, RunStatus], window: _Window) -> _Line:
        job_id, status = key
        reasons = ", ".join(f"{r} ×{n}" for r, n in window.reasons.most_common())
        noun = "run(s) interrupted" if status is RunStatus.INTERRUPTED else f"fire time(s) {status}"
        text = (
            f"job {job_id}: {window.count} more {noun} within {self._window:g}s of the last "
            f"line ({reasons}); see its runs for each"
        )
        fields: dict[str, object] = {
            "job_id": job_id,
            "status": status.value,
            "count": window.count,
            "reasons": dict(window.reasons),
        }
        return text, fields

    def _arm(self, delay: float) -> None:
        """Have flush() called in `delay` seconds, unless a call is due already (caller holds
        the lock)."""
        if not self._use_timer or self._timer is not None:
            return
        timer = threading.Timer(max(0.05, delay), self._on_timer)
        timer.name = "gnomon-runlog"
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception:  # a log line lost must not take anything else with it
            log.exception("could not write the summary of runs that did not run")


def _first_line(
    job_id: str, status: RunStatus, count: int, reason: str | None, run_id: str | None
) -> _Line:
    fields: dict[str, object] = {"job_id": job_id, "status": status.value, "count": count}
    if run_id is not None:
        fields["run_id"] = run_id
    if reason is not None:
        fields["reason"] = reason
    if status is RunStatus.INTERRUPTED:
        text = f"run {run_id} of job {job_id} was interrupted"
        return (f"{text}: {reason}" if reason else text), fields
    text = f"job {job_id}: {count} fire time(s) {status}"
    if reason is not None:
        text += f" ({reason})"
    if run_id is not None:
        text += f", recorded as run {run_id}"
    return text, fields


def _write(lines: list[_Line]) -> None:
    for text, fields in lines:
        log.warning("%s", text, extra=fields)


class RunLogReports:
    """The scheduler's reporting hooks with the run log behind them: every hook goes on to
    `inner` (the metrics); fires missed or skipped and runs interrupted are logged as well."""

    def __init__(self, inner: EngineMetricsProtocol, runlog: NotRunLog | None = None) -> None:
        self.inner = inner
        self._log = runlog or NotRunLog()

    def fired(self, job_id: str, lateness_s: float, *, run: Run | None = None) -> None:
        self.inner.fired(job_id, lateness_s, run=run)

    def finished(
        self,
        job_id: str,
        status: str,
        duration_s: float | None = None,
        *,
        run: Run | None = None,
        update: RunUpdate | None = None,
    ) -> None:
        self.inner.finished(job_id, status, duration_s, run=run, update=update)

    def missed(
        self,
        job_id: str,
        count: int,
        *,
        reason: str | None = None,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        if run_id is None and run is not None:
            run_id = run.id
        self.inner.missed(job_id, count, reason=reason, run_id=run_id, run=run)
        self._log.report(job_id, RunStatus.MISSED, count, reason=reason, run_id=run_id)

    def skipped(
        self,
        job_id: str,
        count: int,
        *,
        reason: str = MissReason.MAX_INSTANCES.value,
        run_id: str | None = None,
        run: Run | None = None,
    ) -> None:
        if run_id is None and run is not None:
            run_id = run.id
        self.inner.skipped(job_id, count, reason=reason, run_id=run_id, run=run)
        self._log.report(job_id, RunStatus.SKIPPED, count, reason=reason, run_id=run_id)

    def interrupted(self, job_id: str, run_id: str, reason: str, *, run: Run | None = None) -> None:
        self.inner.interrupted(job_id, run_id, reason, run=run)
        self._log.report(job_id, RunStatus.INTERRUPTED, 1, reason=reason, run_id=run_id)

    def retried(self, retry: Run) -> None:
        self.inner.retried(retry)
        log_retry(retry)

    def refused(self, status: str, count: int) -> None:
        self.inner.refused(status, count)

    def thread_restarted(self, thread: str) -> None:
        self.inner.thread_restarted(thread)

    def set_leader(self, is_leader: bool) -> None:
        self.inner.set_leader(is_leader)

    def set_broker_up(self, up: bool) -> None:
        self.inner.set_broker_up(up)

    def set_queue_depth(self, depth: int) -> None:
        self.inner.set_queue_depth(depth)

    def delivery_attempted(self, channel: str, result: str) -> None:
        self.inner.delivery_attempted(channel, result)

    def set_delivery_queue(self, depth: int) -> None:
        self.inner.set_delivery_queue(depth)
