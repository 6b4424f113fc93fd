"""Python targets with `isolation = "process"`: real child processes, stopped and crashed."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from gnomon.domain import Isolation, RunStatus, TriggerSource
from gnomon.engine.executors import Outcome, run_job
from gnomon.engine.executors.child import STOP_GRACE
from gnomon.engine.executors.environment import PASSED_VARIABLES
from gnomon.engine.executors.process import KILL_GRACE
from tests.engine.targets import (
    SCHEDULER_SECRETS,
    SERVICE_VARIABLE,
    environment_in,
    new_run,
    python_job,
    step_clock,
)

T = "tests.engine.targets"
#: A timeout long enough for a child started on a busy machine to have set itself up (printed
#: its pids, ignored SIGTERM, started polling run.cancelled) before its timeout comes.
SETTLED = 3.0


@pytest.fixture(autouse=True, scope="module")
def _forkserver_running() -> None:
    """The first child of a test process starts multiprocessing's forkserver, which takes a
    while on a loaded machine; the tests' timeouts are about the runs, not that."""
    run_isolated(f"{T}:ok")


def cancel_once_started(started: Path, cancel: threading.Event) -> list[float]:
    """Set ``cancel`` as soon as the target has created ``started``; returns [when it did]."""
    cancelled_at: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=watch, daemon=True).start()
    return cancelled_at


def run_isolated(target: str, cancel: threading.Event | None = None, **fields: object) -> Outcome:
    definition = python_job(target, isolation=Isolation.PROCESS, **fields)
    return run_job(definition, new_run(), cancel or threading.Event(), clock=step_clock())


def pids_in(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"(?:pid|sleeper) (\d+)", output)]


def gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for PID 1 to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SCHEDULER_SECRETS, SERVICE_VARIABLE[0]: SERVICE_VARIABLE[1]}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("scheduler_env")
def test_a_child_gets_only_harmless_variables_of_the_scheduler_and_its_env() -> None:
    outcome = run_isolated(f"{T}:prints_environment", env={"REPORT_FORMAT": "csv"})
    assert outcome.status is RunStatus.SUCCEEDED
    assert "secret" not in outcome.output
    seen = environment_in(outcome.output)
    assert seen["REPORT_FORMAT"] == "csv"
    assert seen["PATH"] == os.environ["PATH"]
    assert set(seen) - {"REPORT_FORMAT"} <= PASSED_VARIABLES | {
        n for n in seen if n.startswith("LC_")
    }


@pytest.mark.usefixtures("scheduler_env")
def test_a_child_with_inherit_env_gets_the_scheduler_environment_less_gnomon_variables() -> None:
    outcome = run_isolated(f"{T}:prints_environment", inherit_env=True)
    assert outcome.status is RunStatus.SUCCEEDED
    seen = environment_in(outcome.output)
    assert seen[SERVICE_VARIABLE[0]] == SERVICE_VARIABLE[1]
    assert not set(SCHEDULER_SECRETS) & set(seen)


def test_a_child_gets_its_kwargs_and_env_with_secret_references_resolved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REPORT_DB_PASSWORD", "pw-from-env")
    token = tmp_path / "token"
    token.write_text("token-from-file\n")
    outcome = run_isolated(
        f"{T}:prints",
        kwargs={"text": "${env:REPORT_DB_PASSWORD}"},
        env={"DB_TOKEN": f"${{file:{token}}}"},
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert "out: pw-from-env\n" in outcome.output
    outcome = run_isolated(f"{T}:prints_environment", env={"DB_TOKEN": f"${{file:{token}}}"})
    assert environment_in(outcome.output)["DB_TOKEN"] == "token-from-file"


def test_a_child_is_not_started_when_a_secret_cannot_be_resolved() -> None:
    outcome = run_isolated(f"{T}:hangs", env={"TOKEN": "${env:GNOMON_TEST_NO_SUCH_VARIABLE}"})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "SecretUnavailable"
    assert outcome.error_message is not None
    assert "${env:GNOMON_TEST_NO_SUCH_VARIABLE}" in outcome.error_message


def test_a_target_in_a_child_succeeds_with_its_output_logs_and_return_value() -> None:
    handler = RecordingHandler()
    job_logger = logging.getLogger("gnomon.jobs.j1")
    job_logger.addHandler(handler)
    try:
        run = new_run()
        definition = python_job(f"{T}:chatty", isolation=Isolation.PROCESS)
        outcome = run_job(definition, run, threading.Event())
    finally:
        job_logger.removeHandler(handler)
    assert outcome.status is RunStatus.SUCCEEDED
    lines = outcome.output.splitlines()
    assert lines[:3] == ["to stdout", "to stderr", "straight to file descriptor 1"]
    assert lines[3].endswith("Z INFO copied 3 files")
    child_pid = int(lines[4].removeprefix("return value: "))
    assert len(lines) == 5 and child_pid != os.getpid()
    assert outcome.error_type is None and outcome.exit_code is None
    assert outcome.lingering is None  # nothing of a process-isolated run outlives it
    # The record reached the scheduler's job logger too, as from a thread-run target.
    assert [r.getMessage() for r in handler.records] == ["copied 3 files"]
    assert handler.records[0].gnomon_run_id == run.id  # type: ignore[attr-defined]
    assert handler.records[0].process == child_pid


def test_the_run_context_in_a_child_describes_the_run() -> None:
    run = new_run(trigger_source=TriggerSource.RETRY, scheduled_for=None, attempt=3, retry_of="r-2")
    definition = python_job(f"{T}:describes_run", isolation=Isolation.PROCESS)
    outcome = run_job(definition, run, threading.Event())
    assert outcome.status is RunStatus.SUCCEEDED
    for text in (run.id, "'job_id': 'j1'", "RETRY", "'scheduled_for': None", "'attempt': 3"):
        assert text in outcome.output
    assert "'cancelled': False" in outcome.output
    assert "'retry_of': 'r-2'" in outcome.output


def test_an_exception_in_a_child_is_a_failed_outcome_with_its_traceback() -> None:
    outcome = run_isolated(f"{T}:fails")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "tests.engine.targets.JobError"
    assert outcome.error_message == "boom: the backup disk is full"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    assert 'in fails\n    raise JobError("boom' in outcome.traceback
    assert "TargetCall" not in outcome.traceback
    assert outcome.exit_code is None


def test_sys_exit_and_a_missing_target_in_a_child_read_as_in_a_thread() -> None:
    exited = run_isolated(f"{T}:exits")
    assert (exited.status, exited.error_message) == (
        RunStatus.FAILED,
        "the callable called sys.exit(3)",
    )
    missing = run_isolated(f"{T}:missing")
    assert missing.status is RunStatus.FAILED
    assert missing.error_type == "AttributeError"
    assert missing.error_message is not None
    assert missing.error_message.startswith(f"cannot load target '{T}:missing': ")


def test_a_child_imports_targets_from_the_schedulers_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `[scheduler] python_path` does at start-up: a directory added after the forkserver
    # (started by earlier tests) was made still reaches the child.
    (tmp_path / "isolation_probe.py").write_text("def answer():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    outcome = run_isolated("isolation_probe:answer")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "return value: 42\n"


def test_a_timeout_terminates_a_child_that_ignores_cancelled_and_what_it_started() -> None:
    started = time.monotonic()
    outcome = run_isolated(f"{T}:hangs_with_a_subprocess", timeout=SETTLED)
    assert time.monotonic() - started < SETTLED + STOP_GRACE + KILL_GRACE + 1
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error_type == "Timeout"
    assert outcome.error_message == "did not finish within its timeout of 3s"
    # SIGTERM ends it (a busy machine may take longer than KILL_GRACE to reap it: then the
    # group gets a SIGKILL too, which the line adds).
    assert "[gnomon: timed out after 3s; sent SIGTERM to its process group" in outcome.output
    assert outcome.exit_code in (-15, -9)
    assert outcome.lingering is None
    child, sleeper = pids_in(outcome.output)
    assert gone(child)
    assert gone(sleeper)  # in the child's process group, so stopped with it


def test_a_child_that_ignores_sigterm_is_killed() -> None:
    outcome = run_isolated(f"{T}:hangs_ignoring_sigterm", timeout=SETTLED)
    assert outcome.status is RunStatus.TIMED_OUT
    assert f"then SIGKILL after {KILL_GRACE:g}s" in outcome.output
    assert outcome.exit_code == -9
    [child] = pids_in(outcome.output)
    assert gone(child)


def test_a_cooperative_child_stops_when_its_timeout_asks_it_to() -> None:
    outcome = run_isolated(f"{T}:waits_for_cancel", timeout=SETTLED)
    assert outcome.status is RunStatus.TIMED_OUT
    assert "INFO stopping early" in outcome.output
    assert "timed out after 3s; it stopped when asked through run.cancelled" in outcome.output
    assert outcome.exit_code is None


def test_cancel_ends_a_child_that_ignores_cancelled_within_a_second(tmp_path: Path) -> None:
    cancel, started = threading.Event(), tmp_path / "started"
    cancelled_at = cancel_once_started(started, cancel)
    outcome = run_isolated(f"{T}:hangs", cancel, kwargs={"started": str(started)})
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error_type == "Cancelled"
    assert outcome.error_message == "cancelled while running; its process was stopped"
    [child] = pids_in(outcome.output)
    assert gone(child)


def test_cancel_reaches_a_cooperative_child_through_run_cancelled(tmp_path: Path) -> None:
    cancel, started = threading.Event(), tmp_path / "started"
    cancel_once_started(started, cancel)
    outcome = run_isolated(f"{T}:waits_for_cancel", cancel, kwargs={"started": str(started)})
    assert outcome.status is RunStatus.CANCELLED
    assert "INFO stopping early" in outcome.output
    assert "return value: 'stopped early'\n" in outcome.output
    assert outcome.error_message == (
        "cancelled while running; the callable returned after run.cancelled was set"
    )


@pytest.mark.parametrize(
    ("target", "kwargs", "how", "code"),
    [
        ("dies", {"code": 3}, "exited with code 3", 3),
        ("segfaults", {}, "killed by signal SIGSEGV (exit code -11)", -11),
    ],
)
def test_a_child_that_dies_is_a_failed_run_and_the_scheduler_carries_on(
    target: str, kwargs: dict[str, object], how: str, code: int
) -> None:
    outcome = run_isolated(f"{T}:{target}", kwargs=kwargs)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ProcessDied"
    assert outcome.error_message == f"the target's process {how} before the target returned"
    assert outcome.exit_code == code
    assert run_isolated(f"{T}:add", kwargs={"a": 1, "b": 2}).output == "return value: 3\n"


def test_concurrent_children_each_report_their_own_run() -> None:
    outcomes: dict[int, Outcome] = {}

    def worker(n: int) -> None:
        outcomes[n] = run_isolated(f"{T}:prints", kwargs={"text": f"run {n}"})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(6):
        assert outcomes[n].status is RunStatus.SUCCEEDED
        assert outcomes[n].output == f"out: run {n}\nerr: run {n}\n"


def test_a_childs_output_is_capped_keeping_head_and_tail() -> None:
    outcome = run_isolated(f"{T}:prints_lots", kwargs={"lines": 2000})  # ~200 KB
    assert outcome.status is RunStatus.SUCCEEDED
    assert len(outcome.output.encode()) <= 64 * 1024
    assert outcome.output.startswith("line 000000 ")
    assert "bytes omitted: output over the 64 KiB cap" in outcome.output
    assert outcome.output.endswith("line 001999 " + "x" * 90 + "\n")


def test_kwargs_that_cannot_reach_a_child_fail_the_run_clearly() -> None:
    outcome = run_isolated(f"{T}:add", kwargs={"a": threading.Lock(), "b": 1})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("the job's kwargs cannot be sent to a child process")


def test_a_child_kept_alive_by_a_thread_after_the_target_returned_is_stopped() -> None:
    started = time.monotonic()
    outcome = run_isolated(f"{T}:leaves_a_thread")
    # Not the 30 s its thread would keep the process alive (starting a child takes seconds on
    # a loaded machine: the bound leaves room for that).
    assert time.monotonic() - started < 15
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output.startswith("return value: 'done'\n")
    assert "the target returned but its process did not end" in outcome.output


SCHEDULER_THAT_DIES = """
import threading
from gnomon.domain import Isolation
from gnomon.engine.executors import run_job
from tests.engine.targets import new_run, python_job

run_job(python_job("tests.engine.targets:hangs", isolation=Isolation.PROCESS), new_run(),
        threading.Event())
"""


def test_a_child_ends_itself_when_its_scheduler_dies() -> None:
    # The child's output goes to the dying scheduler: find its pid among the scheduler's
    # descendants instead.
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    scheduler = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCHEDULER_THAT_DIES)], env=env, cwd=root
    )
    try:
        child = wait_for_child_session_leader(scheduler.pid)
        time.sleep(0.5)  # past its print: what ends it is the scheduler's end, not a broken pipe
    finally:
        scheduler.kill()
        scheduler.wait()
    deadline = time.monotonic() + STOP_GRACE + 2
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child)


def wait_for_child_session_leader(ancestor: int) -> int:
    """The pid of a session leader descended from ``ancestor`` (the isolated child: it calls
    setsid; the forkserver between them does not)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in descendants(ancestor):
            try:
                if os.getsid(pid) == pid:
                    return pid
            except ProcessLookupError:
                continue
        time.sleep(0.05)
    raise AssertionError("the isolated child never started")


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    parents[int(entry.name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found.extend(children)
        frontier.extend(children)
    return found


# A main script started as a path, like the `gnomon` console script: it takes its entry point from
# gnomon.cli and runs three process-isolated runs. Each child runs it again as __mp_main__, and
# notes whether gnomon.cli was loaded already (from the forkserver) when it did.
SCRIPT_MAIN = """
import os
import sys

if __name__ == "__mp_main__":
    with open(os.environ["IMPORT_NOTES"], "a") as notes:
        notes.write(f"{'gnomon.cli' in sys.modules}\\n")

import threading

from gnomon.cli import main
from gnomon.domain import Isolation
from gnomon.engine.executors import run_job
from gnomon.engine.executors.process import preload_in_forkserver
from tests.engine.targets import new_run, python_job

if __name__ == "__main__":
    preload_in_forkserver()
    for _ in range(3):
        outcome = run_job(python_job("tests.engine.targets:ok", isolation=Isolation.PROCESS),
                          new_run(), threading.Event())
        assert outcome.status.value == "succeeded", outcome
"""


def test_children_of_the_console_script_find_the_cli_loaded_from_the_forkserver(
    tmp_path: Path,
) -> None:
    # Without it each child imported all of gnomon.cli again before its target (~100 ms a run).
    script = tmp_path / "main_script.py"
    script.write_text(textwrap.dedent(SCRIPT_MAIN))
    notes = tmp_path / "notes"
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)]),
        "IMPORT_NOTES": str(notes),
    }
    subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, check=True, timeout=60)
    assert notes.read_text().split() == ["True"] * 3
