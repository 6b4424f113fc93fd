"""What every executor returns: the Outcome of one run, and the stopwatch that builds it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gnomon.domain import Alerting, RunStatus, RunUpdate
from gnomon.engine.output import OutputBuffer
from gnomon.errors import SecretUnavailable

#: The statuses an executor can end a run with.
OUTCOME_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED}
)


@dataclass(frozen=True)
class Outcome:
    """How a run ended. A job's failure is one of these, never an exception."""

    status: RunStatus
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    output: str = ""
    # The process's exit status: for commands, and for a process-isolated target only when its
    # process ended without reporting (it crashed or was stopped). Negative: killed by that signal.
    exit_code: int | None = None
    # Set when the thread of a target that timed out in thread mode really ends (threads cannot be
    # killed, so it may run on); None when nothing of the run is left running. The caller keeps
    # the run's max_instances slot taken until it is set.
    lingering: threading.Event | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.status not in OUTCOME_STATUSES:
            raise ValueError(f"an executor cannot end a run as {self.status.value!r}")

    def to_update(
        self, run_id: str, *, node: str | None = None, alerting: Alerting | None = None
    ) -> RunUpdate:
        """The store write that records this outcome on run ``run_id`` (and, with `alerting`,
        the events it raises on the job's channels)."""
        return RunUpdate(
            run_id=run_id,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_ms=self.duration_ms,
            error_type=self.error_type,
            error_message=self.error_message,
            traceback=self.traceback,
            output=self.output,
            exit_code=self.exit_code,
            node=node,
            owner=node,
            alerting=alerting,
        )


def raised_update(
    run_id: str,
    exc: BaseException,
    *,
    started_at: datetime,
    finished_at: datetime,
    node: str,
    alerting: Alerting | None,
) -> RunUpdate:
    """The store write recording run ``run_id`` failed by ``exc``, which reached the worker
    from the job itself (past the executor that would have made it an outcome)."""
    return RunUpdate(
        run_id=run_id,
        status=RunStatus.FAILED,
        started_at=started_at,
        finished_at=finished_at,
        error_type=type(exc).__name__,
        error_message=f"the job raised {type(exc).__name__}: {exc}",
        node=node,
        owner=node,
        alerting=alerting,
    )


def error_type_name(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``package.module.Class`` for everything else."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class Stopwatch:
    """Notes when a run started (on the injected clock) and builds its Outcome when it ends.

    ``duration_ms`` is ``finished_at - started_at`` on the same clock, so records stay consistent
    and tests with a fake clock stay deterministic.
    """

    def __init__(self, clock: Callable[[], datetime], started: datetime | None = None) -> None:
        """`started`: when the run started, if the caller has just read `clock` for it (one
        reading fewer per run)."""
        self._clock = clock
        self.started_at = clock() if started is None else started

    def outcome(
        self,
        status: RunStatus,
        output: OutputBuffer,
        *,
        error_type: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
        exit_code: int | None = None,
        lingering: threading.Event | None = None,
    ) -> Outcome:
        finished_at = self._clock()
        elapsed = finished_at - self.started_at
        return Outcome(
            status=status,
            started_at=self.started_at,
            finished_at=finished_at,
            duration_ms=max(0, round(elapsed.total_seconds() * 1000)),
            error_type=error_type,
            error_message=error_message,
            traceback=traceback,
            output=output.text(),
            exit_code=exit_code,
            lingering=lingering,
        )


def timed_out(
    watch: Stopwatch, output: OutputBuffer, timeout: float | None, done: str, exit_code: int | None
) -> Outcome:
    """The outcome of a run whose process was stopped at its timeout; `done` says how."""
    output.write(f"\n[gnomon: timed out after {timeout:g}s; {done}]\n")
    return watch.outcome(
        RunStatus.TIMED_OUT,
        output,
        error_type="Timeout",
        error_message=f"did not finish within its timeout of {timeout:g}s",
        exit_code=exit_code,
    )


def secret_unavailable(watch: Stopwatch, output: OutputBuffer, exc: SecretUnavailable) -> Outcome:
    """The outcome of a run not started because a secret it references cannot be resolved."""
    return watch.outcome(
        RunStatus.FAILED, output, error_type="SecretUnavailable", error_message=str(exc)
    )
