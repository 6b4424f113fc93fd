"""Running commands as real subprocesses: exit codes, start failures, env/cwd, output, stopping."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from gnomon.domain import RunStatus
from gnomon.engine.executors import Outcome, run_job
from gnomon.engine.executors.command import run_command
from gnomon.engine.executors.environment import PASSED_VARIABLES
from tests.engine.targets import (
    SCHEDULER_SECRETS,
    SERVICE_VARIABLE,
    command_job,
    environment_in,
    new_run,
    step_clock,
)

PY = sys.executable


def run_argv(*argv: str, cancel: threading.Event | None = None, **fields: object) -> Outcome:
    definition = command_job(*argv, **fields)
    return run_job(definition, new_run("c1"), cancel or threading.Event(), clock=step_clock())


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_exit_zero_succeeds_with_its_output() -> None:
    outcome = run_argv("sh", "-c", "echo hello; echo world")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.exit_code == 0
    assert outcome.output == "hello\nworld\n"
    assert outcome.duration_ms == 250
    assert outcome.error_type is None


def test_a_non_zero_exit_fails_with_its_code() -> None:
    outcome = run_argv("sh", "-c", "echo partial; exit 3")
    assert outcome.status is RunStatus.FAILED
    assert outcome.exit_code == 3
    assert outcome.error_type == "NonZeroExit"
    assert outcome.error_message == "exited with code 3"
    assert outcome.output == "partial\n"


def test_death_by_signal_names_the_signal() -> None:
    outcome = run_argv("sh", "-c", "kill -9 $$")
    assert outcome.status is RunStatus.FAILED
    assert outcome.exit_code == -9
    assert outcome.error_message == "killed by signal SIGKILL (exit code -9)"


def test_a_missing_program_fails_with_a_clear_message() -> None:
    outcome = run_argv("/nonexistent/gnomon-no-such-tool", "--flag")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "FileNotFoundError"
    assert outcome.exit_code is None
    assert outcome.error_message == (
        "cannot start '/nonexistent/gnomon-no-such-tool': No such file or directory; "
        "check the command and PATH"
    )


def test_a_file_that_is_not_executable_fails_with_a_clear_message(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    outcome = run_argv(str(script))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "PermissionError"
    assert outcome.error_message is not None
    assert "is not executable" in outcome.error_message


def test_a_missing_working_directory_fails_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    outcome = run_argv("sh", "-c", "true", cwd=missing)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "FileNotFoundError"
    assert outcome.error_message == f"cannot start 'sh': working directory {missing!r}: " + (
        "No such file or directory"
    )


def test_env_is_added_to_the_inherited_environment_and_cwd_is_applied(tmp_path: Path) -> None:
    outcome = run_argv(
        "sh",
        "-c",
        'echo "$GNOMON_TEST_COLOUR $(pwd -P)"; command -v sh >/dev/null && echo path-kept',
        env={"GNOMON_TEST_COLOUR": "teal"},
        cwd=str(tmp_path),
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == f"teal {tmp_path.resolve()}\npath-kept\n"


@pytest.fixture
def scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler's environment holds gnomon's secrets and a variable of the service's."""
    for name, value in {**SCHEDULER_SECRETS, SERVICE_VARIABLE[0]: SERVICE_VARIABLE[1]}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "C")


@pytest.mark.usefixtures("scheduler_env")
def test_a_command_gets_only_harmless_variables_of_the_scheduler_and_its_env() -> None:
    outcome = run_argv("env", env={"REPORT_FORMAT": "csv"})
    assert outcome.status is RunStatus.SUCCEEDED
    assert "secret" not in outcome.output
    seen = environment_in(outcome.output)
    assert seen["REPORT_FORMAT"] == "csv"
    assert seen["PATH"] == os.environ["PATH"]
    assert seen["LC_TIME"] == "C"
    assert set(seen) - {"REPORT_FORMAT", "LC_TIME"} <= PASSED_VARIABLES


@pytest.mark.usefixtures("scheduler_env")
def test_inherit_env_passes_the_scheduler_environment_but_never_gnomon_variables() -> None:
    outcome = run_argv("env", inherit_env=True, env={"GNOMON_JOB_FLAG": "declared"})
    assert outcome.status is RunStatus.SUCCEEDED
    seen = environment_in(outcome.output)
    assert seen[SERVICE_VARIABLE[0]] == SERVICE_VARIABLE[1]
    assert seen["GNOMON_JOB_FLAG"] == "declared"  # the job's own env is what it declares
    assert not set(SCHEDULER_SECRETS) & set(seen)
    assert "password-secret" not in outcome.output


def test_secret_references_in_env_and_arguments_are_resolved_when_the_run_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REPORT_DB_PASSWORD", "pw-from-env")
    token = tmp_path / "token"
    token.write_text("token-from-file\n")
    outcome = run_argv(
        "sh",
        "-c",
        'echo "$1 $DB_TOKEN"',
        "sh",
        "--password=${env:REPORT_DB_PASSWORD}",
        env={"DB_TOKEN": f"${{file:{token}}}"},
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "--password=pw-from-env token-from-file\n"


def test_a_secret_that_cannot_be_resolved_fails_the_run_before_it_starts(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    outcome = run_argv("touch", str(ran), env={"TOKEN": "${file:/nonexistent/gnomon-secret}"})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "SecretUnavailable"
    assert outcome.error_message is not None
    assert outcome.error_message.startswith(
        "secret ${file:/nonexistent/gnomon-secret} is unavailable: cannot read the file"
    )
    assert not ran.exists()


def test_without_shell_arguments_are_not_interpreted() -> None:
    outcome = run_argv("echo", "$HOME", "*", "a|b")
    assert outcome.output == "$HOME * a|b\n"


def test_with_shell_the_single_string_runs_under_sh() -> None:
    outcome = run_argv("echo $((40 + 2)) | tr 4 Z", shell=True)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "Z2\n"


def test_with_shell_several_strings_are_refused() -> None:
    outcome = run_argv("echo", "hi", shell=True)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_message is not None
    assert "single string" in outcome.error_message


def test_stdout_and_stderr_are_interleaved_in_order() -> None:
    code = (
        "import sys\n"
        "for i in range(3):\n"
        "    print('out', i, flush=True)\n"
        "    print('err', i, file=sys.stderr, flush=True)\n"
    )
    outcome = run_argv(PY, "-c", code)
    assert outcome.output.splitlines() == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]


def test_invalid_utf8_output_is_replaced() -> None:
    outcome = run_argv("printf", "caf\\351\\n")
    assert outcome.output == "caf\ufffd\n"


def test_a_chatty_process_does_not_block_and_its_output_is_capped() -> None:
    code = "import sys\nsys.stdout.write('x' * 4_000_000)\nsys.stdout.write('\\nEND\\n')\n"
    started = time.monotonic()
    outcome = run_argv(PY, "-c", code, timeout=20)
    assert time.monotonic() - started < 10
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output.startswith("xxxx")
    assert outcome.output.endswith("xxxx\nEND\n")
    assert "bytes omitted: output over the 64 KiB cap" in outcome.output
    assert len(outcome.output.encode()) <= 64 * 1024


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # The child would outlive its parent; a timeout must take both down.
    script = f"sleep 60 & echo $! > {pid_file}; echo started; wait"
    started = time.monotonic()
    outcome = run_argv("sh", "-c", script, timeout=0.5)
    assert time.monotonic() - started < 4
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error_type == "Timeout"
    assert outcome.exit_code == -signal.SIGTERM
    assert outcome.output.startswith("started\n")
    assert "timed out after 0.5s; sent SIGTERM to its process group" in outcome.output
    assert wait_gone(int(pid_file.read_text()))


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"trap '' TERM; sleep 60 & echo $! > {pid_file}; while true; do sleep 0.05; done"
    definition = command_job("sh", "-c", script, timeout=0.3)
    started = time.monotonic()
    outcome = run_command(
        definition,
        new_run("c1"),
        threading.Event(),
        clock=step_clock(),
        output_cap=65536,
        kill_grace=0.3,
    )
    assert time.monotonic() - started < 4
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.exit_code == -signal.SIGKILL
    assert "then SIGKILL after 0.3s" in outcome.output
    assert wait_gone(int(pid_file.read_text()))


def test_cancel_stops_a_running_command() -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        outcome = run_argv("sleep", "30", cancel=cancel)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 4
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.exit_code == -signal.SIGTERM
    assert "[gnomon: cancelled; sent SIGTERM to its process group]" in outcome.output


def test_a_command_cancelled_before_it_starts_is_not_started(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    marker = tmp_path / "ran"
    outcome = run_argv("touch", str(marker), cancel=cancel)
    assert outcome.status is RunStatus.CANCELLED
    assert not marker.exists()


def test_a_background_process_holding_the_output_does_not_hold_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    started = time.monotonic()
    outcome = run_argv("sh", "-c", f"sleep 30 & echo $! > {pid_file}; echo done")
    try:
        assert time.monotonic() - started < 4
        assert outcome.status is RunStatus.SUCCEEDED
        assert outcome.output.startswith("done\n")
        assert "a background process still holds it open" in outcome.output
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("env", [{"BAD": "nul\0byte"}])
def test_an_unstartable_environment_is_a_failure(env: dict[str, str]) -> None:
    outcome = run_argv("true", env=env)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("cannot start 'true': ")
