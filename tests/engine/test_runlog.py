"""The run log: a WARNING line per run that did not succeed; floods of not-run fires summed up."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest

from gnomon.domain import Run, RunStatus, RunUpdate, TriggerSource
from gnomon.engine.observe import NullMetrics
from gnomon.engine.runlog import (
    ERROR_CHARS,
    NotRunLog,
    RunLogReports,
    error_summary,
    log_run_end,
)
from tests.e2e.procs import wait_for

T0 = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
RUN = Run(
    id="r-1", job_id="backup", trigger_source=TriggerSource.SCHEDULED, status=RunStatus.RUNNING,
    queued_at=T0,
)  # fmt: skip


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gnomon.runs"]


def ended(status: RunStatus, **fields: object) -> RunUpdate:
    return RunUpdate(
        run_id=RUN.id,
        status=status,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1.5),
        duration_ms=1500,
        **fields,  # type: ignore[arg-type]
    )


def test_a_failed_run_logs_one_warning_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    update = ended(
        RunStatus.FAILED, error_type="NonZeroExit", error_message="exited with code 3", exit_code=3
    )
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        log_run_end(RUN, update)
    (record,) = lines(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "run r-1 of job backup failed after 1.500s: NonZeroExit: exited with code 3"
    )
    fields = {
        k: getattr(record, k)
        for k in (
            "job_id", "run_id", "status", "error_type", "error", "duration_s", "exit_code",
            "attempt",
        )
    }  # fmt: skip
    assert fields == {
        "job_id": "backup",
        "run_id": "r-1",
        "status": "failed",
        "error_type": "NonZeroExit",
        "error": "NonZeroExit: exited with code 3",
        "duration_s": 1.5,
        "exit_code": 3,
        "attempt": 1,
    }


def test_a_retry_the_store_queued_says_when_it_starts(caplog: pytest.LogCaptureFixture) -> None:
    retry = RUN.replace(
        id="r-2",
        status=RunStatus.QUEUED,
        trigger_source=TriggerSource.RETRY,
        attempt=2,
        retry_of="r-1",
        not_before=T0 + timedelta(seconds=30),
    )
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        RunLogReports(NullMetrics()).retried(retry)
    (record,) = lines(caplog)
    assert record.getMessage() == "run r-1 of job backup will retry in 30s as attempt 2 (run r-2)"
    assert record.levelno == logging.INFO
    fields = (record.job_id, record.run_id, record.retry_run_id, record.attempt)  # type: ignore[attr-defined]
    assert fields == ("backup", "r-1", "r-2", 2)


def test_the_end_of_a_run_its_job_retries_names_the_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Whether it is retried is said once the store has queued the retry (above), not here.
    update = ended(RunStatus.FAILED, error_type="ValueError", error_message="boom")
    retry = RUN.replace(id="r-2", attempt=2, retry_of="r-1")
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        log_run_end(RUN, dataclasses.replace(update, retry=retry))
    (record,) = lines(caplog)
    assert record.getMessage() == (
        "run r-1 of job backup (attempt 1) failed after 1.500s: ValueError: boom"
    )


def test_a_succeeded_run_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="gnomon.runs"):
        log_run_end(RUN, ended(RunStatus.SUCCEEDED))
    assert lines(caplog) == []


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (RunStatus.TIMED_OUT, "timed out after 1.500s: Timeout"),
        (RunStatus.CANCELLED, "was cancelled after 1.500s"),
    ],
)
def test_other_endings_are_warnings_too(
    status: RunStatus, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        log_run_end(
            RUN, ended(status, error_type="Timeout" if status.value == "timed_out" else None)
        )
    (record,) = lines(caplog)
    assert words in record.getMessage() and record.levelno == logging.WARNING


def test_error_summary_takes_the_first_line_cut_short() -> None:
    assert error_summary("ValueError", "bad\nmore") == "ValueError: bad"
    assert error_summary("ValueError", "ValueError") == "ValueError"
    assert error_summary(None, None) is None
    long = error_summary("E", "x" * 1000)
    assert long is not None and len(long) == len("E: ") + ERROR_CHARS and long.endswith("…")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_skips_writes_one_line_then_one_sum_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    runlog = NotRunLog(60, clock=clock, timer=False)
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        for i in range(1000):
            runlog.report("busy", RunStatus.SKIPPED, 1, reason="max_instances", run_id=f"s{i}")
            clock.now += 0.001
        runlog.report("other", RunStatus.SKIPPED, 1, reason="max_instances", run_id="o1")
        runlog.flush()  # the window has not ended: nothing more
        first = [r.getMessage() for r in lines(caplog)]
        clock.now += 60
        runlog.flush()
    assert first == [
        "job busy: 1 fire time(s) skipped (max_instances), recorded as run s0",
        "job other: 1 fire time(s) skipped (max_instances), recorded as run o1",
    ]
    summary = lines(caplog)[-1]
    assert len(lines(caplog)) == 3  # `other` had nothing more to say
    assert summary.getMessage().startswith("job busy: 999 more fire time(s) skipped within 60s")
    assert (summary.count, summary.reasons) == (999, {"max_instances": 999})  # type: ignore[attr-defined]


def test_after_a_quiet_window_the_next_line_is_written_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    runlog = NotRunLog(60, clock=clock, timer=False)
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        runlog.report("nightly", RunStatus.MISSED, 3, reason="scheduler_down", run_id="m1")
        clock.now += 61
        runlog.report("nightly", RunStatus.MISSED, 1, reason="overloaded", run_id="m2")
    messages = [r.getMessage() for r in lines(caplog)]
    assert messages == [
        "job nightly: 3 fire time(s) missed (scheduler_down), recorded as run m1",
        "job nightly: 1 fire time(s) missed (overloaded), recorded as run m2",
    ]


def test_the_sum_is_written_when_the_window_ends_without_another_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runlog = NotRunLog(0.3)  # its timer writes the sum
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        runlog.report("j", RunStatus.INTERRUPTED, 1, reason="node lost", run_id="i1")
        runlog.report("j", RunStatus.INTERRUPTED, 1, reason="node lost", run_id="i2")
        wait_for(lambda: len(lines(caplog)) == 2, timeout=10, what="the window's sum", every=0.05)
    first, summary = (r.getMessage() for r in lines(caplog))
    assert first == "run i1 of job j was interrupted: node lost"
    assert summary.startswith("job j: 1 more run(s) interrupted")


def test_reports_reach_the_metrics_and_the_log(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str, int]] = []

    class Counting(NullMetrics):
        def skipped(
            self,
            job_id: str,
            count: int,
            *,
            reason: str = "",
            run_id: str | None = None,
            run: Run | None = None,
        ) -> None:
            calls.append(("skipped", job_id, count))

    reports = RunLogReports(Counting(), NotRunLog(timer=False))
    with caplog.at_level(logging.INFO, logger="gnomon.runs"):
        reports.skipped("j", 2, run_id="s1")
    assert calls == [("skipped", "j", 2)]
    (record,) = lines(caplog)
    assert record.reason == "max_instances"  # type: ignore[attr-defined]
