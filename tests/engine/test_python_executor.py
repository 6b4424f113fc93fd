"""Running Python targets: resolution, kwargs and `run`, output, failures, timeout, cancel."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from gnomon.domain import JobKind, RunStatus, TriggerSource
from gnomon.engine import context
from gnomon.engine.executors import Outcome, run_job
from gnomon.engine.output import install_output_routing, uninstall_output_routing
from tests.engine.targets import T0, new_run, python_job, step_clock

T = "tests.engine.targets"


@contextmanager
def routed_stdout() -> Iterator[io.StringIO]:
    """Routing installed over a fake console, as the engine does when it starts."""
    saved = sys.stdout, sys.stderr
    console = io.StringIO()
    sys.stdout = sys.stderr = console
    install_output_routing()
    try:
        yield console
    finally:
        uninstall_output_routing()
        sys.stdout, sys.stderr = saved


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run_target(target: str, cancel: threading.Event | None = None, **fields: object) -> Outcome:
    definition = python_job(target, **fields)
    return run_job(definition, new_run(), cancel or threading.Event(), clock=step_clock())


def test_a_target_that_returns_succeeds_with_timings_from_the_clock() -> None:
    outcome = run_target(f"{T}:ok")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.started_at == T0
    assert outcome.finished_at == T0 + timedelta(milliseconds=250)
    assert outcome.duration_ms == 250
    assert outcome.output == ""
    assert outcome.error_type is None
    assert outcome.exit_code is None


def test_kwargs_are_passed_and_the_return_value_is_recorded() -> None:
    outcome = run_target(f"{T}:add", kwargs={"a": 2, "b": 40})
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "return value: 42\n"


def test_secret_references_in_kwargs_are_resolved_when_the_run_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REPORT_DB_PASSWORD", "pw-from-env")
    token = tmp_path / "token"
    token.write_text("token-from-file\n")
    declared = {"text": f"${{env:REPORT_DB_PASSWORD}}/${{file:{token}}}"}
    definition = python_job(f"{T}:prints", kwargs=declared)
    with routed_stdout():
        outcome = run_job(definition, new_run(), threading.Event(), clock=step_clock())
    assert outcome.status is RunStatus.SUCCEEDED
    assert "out: pw-from-env/token-from-file\n" in outcome.output
    assert definition.kwargs == declared  # resolved for the run only


def test_a_secret_that_cannot_be_resolved_fails_the_run_naming_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REPORT_DB_PASSWORD", raising=False)
    outcome = run_target(f"{T}:prints", kwargs={"text": "${env:REPORT_DB_PASSWORD}"})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "SecretUnavailable"
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("secret ${env:REPORT_DB_PASSWORD} is unavailable")
    assert outcome.output == ""  # the target was not called


def test_a_long_return_value_is_shortened() -> None:
    outcome = run_target(f"{T}:returns_big")
    assert outcome.output.startswith("return value: 'yyy")
    assert len(outcome.output) < 3000


def test_a_dotted_attribute_path_and_an_async_target_resolve() -> None:
    assert run_target(f"{T}:Tools.double", kwargs={"x": 21}).output == "return value: 42\n"
    assert run_target(f"{T}:async_add", kwargs={"a": 1, "b": 2}).output == "return value: 3\n"


def test_the_run_context_describes_the_run() -> None:
    run = new_run(trigger_source=TriggerSource.MANUAL, scheduled_for=None, created_by=7)
    outcome = run_job(python_job(f"{T}:describes_run"), run, threading.Event())
    assert outcome.status is RunStatus.SUCCEEDED
    for text in (run.id, "'job_id': 'j1'", "MANUAL", "'scheduled_for': None", "'created_by': 7"):
        assert text in outcome.output
    assert "'cancelled': False" in outcome.output
    assert "'attempt': 1," in outcome.output and "'retry_of': None" in outcome.output


def test_a_target_taking_var_kwargs_receives_run_too() -> None:
    outcome = run_target(f"{T}:takes_kwargs", kwargs={"limit": 3})
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "return value: ['limit', 'run']\n"


def test_an_exception_is_a_failed_outcome_with_its_traceback() -> None:
    outcome = run_target(f"{T}:fails")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "tests.engine.targets.JobError"
    assert outcome.error_message == "boom: the backup disk is full"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    assert 'in fails\n    raise JobError("boom' in outcome.traceback
    assert "TargetCall" not in outcome.traceback


def test_sys_exit_is_a_failure_not_the_end_of_the_worker() -> None:
    outcome = run_target(f"{T}:exits")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "SystemExit"
    assert outcome.error_message == "the callable called sys.exit(3)"


@pytest.mark.parametrize(
    ("target", "error_type", "detail"),
    [
        (
            "no_such_package.jobs:nightly",
            "ModuleNotFoundError",
            "No module named 'no_such_package'",
        ),
        (f"{T}:missing", "AttributeError", "tests.engine.targets has no attribute 'missing'"),
        (f"{T}:Tools.triple", "AttributeError", "targets.Tools has no attribute 'triple'"),
        (f"{T}:not_callable", "TypeError", "is a int, not a callable"),
        ("tests.engine.targets.ok", "ValueError", "must look like 'package.module:function'"),
    ],
)
def test_a_target_that_cannot_be_loaded_is_a_failed_outcome(
    target: str, error_type: str, detail: str
) -> None:
    outcome = run_target(target)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == error_type
    assert outcome.error_message is not None
    assert outcome.error_message.startswith(f"cannot load target {target!r}: ")
    assert detail in outcome.error_message
    assert "importable" in outcome.error_message


def test_a_python_job_without_a_target_fails_without_raising() -> None:
    outcome = run_target("")
    assert outcome.status is RunStatus.FAILED
    assert python_job("").kind is JobKind.PYTHON


def test_prints_from_the_run_thread_are_captured_and_others_reach_the_console() -> None:
    with routed_stdout() as console:
        print("engine chatter")
        outcome = run_target(f"{T}:prints", kwargs={"text": "hi"})
    assert outcome.output == "out: hi\nerr: hi\n"
    assert console.getvalue() == "engine chatter\n"


def test_concurrent_runs_each_capture_only_their_own_prints() -> None:
    barrier = threading.Barrier(2)
    outcomes: dict[str, Outcome] = {}

    def worker(tag: str) -> None:
        outcomes[tag] = run_target(
            f"{T}:prints_many", kwargs={"tag": tag, "lines": 300, "barrier": barrier}
        )

    with routed_stdout() as console:
        threads = [threading.Thread(target=worker, args=(tag,)) for tag in ("alpha", "beta")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for tag in ("alpha", "beta"):
        assert outcomes[tag].output.splitlines() == [f"{tag} {i}" for i in range(300)]
    assert console.getvalue() == ""


def test_the_run_logger_is_captured_and_propagates_to_the_job_logger() -> None:
    handler = RecordingHandler()
    seen = handler.records
    job_logger = logging.getLogger("gnomon.jobs.j1")
    job_logger.addHandler(handler)
    known = set(logging.Logger.manager.loggerDict)
    try:
        run = new_run()
        outcome = run_job(python_job(f"{T}:logs"), run, threading.Event())
    finally:
        job_logger.removeHandler(handler)
    lines = outcome.output.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("Z INFO copied 3 files")
    assert lines[1].endswith("Z WARNING disk almost full")
    assert [r.getMessage() for r in seen] == ["copied 3 files", "disk almost full"]
    assert all(getattr(r, "gnomon_run_id", None) == run.id for r in seen)
    assert set(logging.Logger.manager.loggerDict) == known  # no logger registered per run


def test_the_run_logger_honours_logging_disable_as_any_logger_does() -> None:
    logging.disable(logging.INFO)
    try:
        outcome = run_job(python_job(f"{T}:logs"), new_run(), threading.Event())
    finally:
        logging.disable(logging.NOTSET)
    (line,) = outcome.output.splitlines()
    assert line.endswith("Z WARNING disk almost full")


def test_without_any_handler_a_runs_warning_reaches_its_output_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No handler on the job logger nor above it: logging would print WARNING and above to the
    # process's stderr itself ("last resort"); the run's record belongs in the run's output.
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    handlers_before = len(logging._handlerList)  # type: ignore[attr-defined]
    try:
        outcome = run_job(python_job(f"{T}:logs"), new_run(), threading.Event())
    finally:
        root.handlers[:] = saved
    assert outcome.output.splitlines()[1].endswith("Z WARNING disk almost full")
    assert "disk almost full" not in capsys.readouterr().err
    assert len(logging._handlerList) == handlers_before  # type: ignore[attr-defined]


def test_a_handler_writing_to_stderr_does_not_copy_records_into_the_output_twice() -> None:
    job_logger = logging.getLogger("gnomon.jobs.j1")
    with routed_stdout() as console:
        handler = logging.StreamHandler(sys.stderr)  # bound to the routed stream
        job_logger.addHandler(handler)
        try:
            outcome = run_target(f"{T}:logs")
        finally:
            job_logger.removeHandler(handler)
    assert outcome.output.count("copied 3 files") == 1
    assert console.getvalue() == "copied 3 files\ndisk almost full\n"


def test_a_timeout_returns_at_once_and_asks_the_target_to_stop() -> None:
    cancel, stopped = threading.Event(), threading.Event()
    started = time.monotonic()
    outcome = run_target(f"{T}:waits_for_cancel", cancel, kwargs={"stopped": stopped}, timeout=0.2)
    assert time.monotonic() - started < 2
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error_type == "Timeout"
    assert "timed out after 0.2s with its thread still running" in outcome.output
    assert outcome.error_message == (
        "did not finish within its timeout of 0.2s; its thread was still running then"
    )
    assert cancel.is_set()
    assert stopped.wait(5)  # the cooperative target saw run.cancelled and returned
    assert outcome.lingering is not None and outcome.lingering.wait(5)


def test_a_timeout_says_when_the_target_cannot_be_asked_to_stop() -> None:
    outcome = run_target(f"{T}:naps", kwargs={"seconds": 0.5}, timeout=0.05)
    assert outcome.status is RunStatus.TIMED_OUT
    assert "takes no `run` argument, so it cannot be asked to stop" in outcome.output


def test_a_timed_out_thread_lingers_until_it_really_ends() -> None:
    release = threading.Event()
    outcome = run_target(f"{T}:blocks_until", kwargs={"release": release}, timeout=0.05)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.lingering is not None
    assert not outcome.lingering.wait(0.2)  # still running: its slot stays taken
    release.set()
    assert outcome.lingering.wait(5)


def test_nothing_lingers_after_a_run_that_ended() -> None:
    assert run_target(f"{T}:ok").lingering is None
    assert run_target(f"{T}:ok", timeout=5).lingering is None
    assert run_target(f"{T}:fails", timeout=5).lingering is None


def test_a_target_within_its_timeout_succeeds_and_its_prints_are_captured() -> None:
    with routed_stdout():
        outcome = run_target(f"{T}:prints", kwargs={"text": "x"}, timeout=5)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "out: x\nerr: x\n"


def test_a_failure_within_a_timeout_is_recorded_like_any_other() -> None:
    outcome = run_target(f"{T}:fails", timeout=5)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_message == "boom: the backup disk is full"


def test_a_cooperative_target_cancelled_while_running_is_cancelled() -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    try:
        outcome = run_target(f"{T}:waits_for_cancel", cancel)
    finally:
        timer.cancel()
    assert outcome.status is RunStatus.CANCELLED
    assert "INFO stopping early" in outcome.output
    assert outcome.output.endswith("return value: 'stopped early'\n")


def test_a_run_cancelled_before_it_starts_is_not_started() -> None:
    cancel = threading.Event()
    cancel.set()
    outcome = run_target(f"{T}:fails", cancel)
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error_message == "cancelled before it started"


def test_an_outcome_becomes_the_runs_final_update() -> None:
    outcome = run_target(f"{T}:fails")
    update = outcome.to_update("run-1", node="node-a")
    assert update.run_id == "run-1"
    assert update.status is RunStatus.FAILED
    assert update.node == "node-a"
    assert (update.started_at, update.finished_at, update.duration_ms) == (
        outcome.started_at,
        outcome.finished_at,
        250,
    )
    assert update.error_type == outcome.error_type
    assert update.traceback == outcome.traceback


def test_run_log_lines_are_what_logging_formatter_writes_with_utc_times_and_tracebacks() -> None:
    reference = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    reference.converter = time.gmtime
    reference.default_time_format = "%Y-%m-%dT%H:%M:%S"
    reference.default_msec_format = "%s.%03dZ"
    records = []
    for created in (time.time(), 1_796_319_510.9996, 0.0005, 1_000_000_000.001):
        record = logging.LogRecord("j", logging.INFO, "p.py", 1, "copied %d files", (3,), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        records.append(record)
    try:
        raise ValueError("disk full")
    except ValueError:
        records.append(
            logging.LogRecord("j", logging.ERROR, "p.py", 1, "failed", (), sys.exc_info())
        )
    records.append(logging.LogRecord("j", logging.WARNING, "p.py", 1, "here", (), None, sinfo="s"))
    for record in records:  # twice: the second time from the kept second's text
        assert context._FORMATTER.format(record) == reference.format(record)
        assert context._FORMATTER.format(record) == reference.format(record)
