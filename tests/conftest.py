"""Shared fixtures: a migrated SQLite store, config files written on the fly, a runtime; and
the rule that a run with a skipped test fails unless GNOMON_TEST_ALLOW_SKIP is set."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gnomon.services.runtime import Runtime
from tests.components import ALLOW_SKIP, allowed_skips

WriteConfig = Callable[[str], Path]
SKIPPED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    allowed_skips()  # a misspelt opt-out stops the run before any test


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A skipped test proves nothing: without the opt-out, the run fails like a failed test
    # would. (Under xdist the controller sees every worker's reports; workers leave it alone.)
    controller = not hasattr(session.config, "workerinput")
    if SKIPPED and exitstatus == pytest.ExitCode.OK and controller and not allowed_skips():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SKIPPED and not allowed_skips():
        terminalreporter.write_line(
            f"{len(SKIPPED)} test(s) skipped, so the run fails: a skip passes nothing. Make the "
            f"missing component available, or set {ALLOW_SKIP} (see README, Development).",
            red=True,
        )


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a gnomon.toml (dedented) in tmp_path; the store goes to tmp_path/data."""

    def write(body: str) -> Path:
        path = tmp_path / "gnomon.toml"
        header = 'data_dir = "data"\n'
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def runtime_factory() -> Iterator[Callable[[Path], Runtime]]:
    """Build runtimes on a config file (store migrated); all are closed at the end."""
    made: list[Runtime] = []

    def make(path: Path) -> Runtime:
        runtime = Runtime.from_config_file(path, env={})
        runtime.prepare_store()
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close(grace=5)


@pytest.fixture
def common_umask() -> Iterator[None]:
    """The usual umask 022, under which files are created world-readable unless gnomon says
    otherwise; restored after the test."""
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)
