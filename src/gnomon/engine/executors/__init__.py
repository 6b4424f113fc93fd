"""Executors: run one job synchronously and return its Outcome; a job's failure is never raised."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from datetime import datetime

from gnomon.domain import Isolation, JobDefinition, JobKind, Run, RunStatus, utcnow
from gnomon.engine.executors.base import Outcome, Stopwatch, error_type_name
from gnomon.engine.executors.command import run_command
from gnomon.engine.executors.process import run_in_process
from gnomon.engine.executors.python import run_python
from gnomon.engine.output import (
    DEFAULT_OUTPUT_CAP,
    MIN_OUTPUT_CAP,
    OutputBuffer,
    install_output_routing,
    uninstall_output_routing,
)
from gnomon.store.base import Store

__all__ = [
    "Outcome",
    "install_output_routing",
    "run_job",
    "uninstall_output_routing",
]


def run_job(
    definition: JobDefinition,
    run: Run,
    cancel: threading.Event,
    *,
    clock: Callable[[], datetime] = utcnow,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    store: Store | None = None,
    output: OutputBuffer | None = None,
    started: datetime | None = None,
) -> Outcome:
    """Execute ``run`` of ``definition`` in the calling thread and return how it ended.

    Setting ``cancel`` asks the run to stop: a command's process group is terminated, a Python
    callable sees ``run.cancelled`` turn true (and with ``isolation = "process"`` its process group
    is terminated shortly after). A run cancelled before it starts is not started.
    Never raises for anything the job does (only a KeyboardInterrupt in the caller's thread);
    raises ValueError for an ``output_cap`` under ``MIN_OUTPUT_CAP``, a programming error.
    ``store`` is handed to Python targets run in a thread as ``run.store`` (gnomon's own shipped
    jobs use it); a child process has none. ``output``: the buffer the run's output goes to as
    it comes (for a live view of it); by default one of ``output_cap`` bytes. ``started``: the
    run's start, when the caller has just read ``clock`` for it (default: read here).
    """
    if output_cap < MIN_OUTPUT_CAP:
        raise ValueError(f"output_cap must be at least {MIN_OUTPUT_CAP} bytes, got {output_cap}")
    if cancel.is_set():
        watch = Stopwatch(clock, started)
        return watch.outcome(
            RunStatus.CANCELLED,
            OutputBuffer(output_cap),
            error_type="Cancelled",
            error_message="cancelled before it started",
        )
    try:
        if definition.kind is JobKind.COMMAND or definition.isolation == Isolation.PROCESS:
            in_a_process = run_command if definition.kind is JobKind.COMMAND else run_in_process
            return in_a_process(
                definition,
                run,
                cancel,
                clock=clock,
                output_cap=output_cap,
                output=output,
                started=started,
            )
        return run_python(
            definition,
            run,
            cancel,
            clock=clock,
            output_cap=output_cap,
            store=store,
            output=output,
            started=started,
        )
    except Exception as exc:  # a bug in an executor must not take the engine's worker down
        watch = Stopwatch(clock, started)
        return watch.outcome(
            RunStatus.FAILED,
            OutputBuffer(output_cap),
            error_type=error_type_name(exc),
            error_message=f"gnomon could not execute the job: {exc}",
            traceback="".join(traceback.format_exception(exc)),
        )
