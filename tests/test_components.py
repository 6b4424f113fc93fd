"""A missing chromium or PostgreSQL fails its tests unless GNOMON_TEST_ALLOW_SKIP names it,
which .ci/run refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import ALLOW_SKIP, allowed_skips, missing

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("-p", "tests.conftest", "-p", "no:cacheprovider")  # and no other: autoload is off


def test_a_missing_component_fails_without_the_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_SKIP, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"chromium is not installed\. Install it, or"):
        missing("chromium", "chromium is not installed", "Install it")


def test_the_opt_out_skips_only_the_components_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "postgres")
    with pytest.raises(pytest.skip.Exception, match=f"down \\({ALLOW_SKIP}=postgres\\)"):
        missing("postgres", "down", "Start it")
    with pytest.raises(pytest.fail.Exception):
        missing("chromium", "chromium is not installed", "Install it")


def test_the_opt_out_refuses_a_name_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "chromium, postgress")
    known = "chromium, postgres, rabbitmq, redis"
    with pytest.raises(pytest.UsageError, match=f"names postgress; it takes: {known}"):
        allowed_skips()
    monkeypatch.setenv(ALLOW_SKIP, " chromium , postgres ")
    assert allowed_skips() == {"chromium", "postgres"}


def ci_run(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], bool]:
    """.ci/run in a copy of the tree's layout whose scripts/test.sh only notes it was run, with
    PostgreSQL reported up: its answer, and whether it went on to run the tests."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    ran = tmp_path / "tests-ran"
    (tmp_path / "scripts" / "test.sh").write_text(f"touch '{ran}'\n", encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pg_isready").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (bin_dir / "pg_isready").chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GNOMON_TEST_")}
    base = {**clean, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, ran.exists()


@pytest.mark.parametrize(
    "opt_out", [f"{ALLOW_SKIP}=chromium", f"{ALLOW_SKIP}=postgres", "GNOMON_TEST_SKIP_PG=1"]
)
def test_ci_refuses_every_opt_out_before_running_anything(tmp_path: Path, opt_out: str) -> None:
    name, value = opt_out.split("=")
    result, ran = ci_run(tmp_path, {name: value})
    assert (result.returncode, ran) == (2, False), result
    assert result.stderr == f"{name} set, but CI skips no test: unset it\n"


def test_ci_runs_the_tests_when_no_opt_out_is_set(tmp_path: Path) -> None:
    # The same copy, without the variable, goes on to the tests: the refusal above is the
    # opt-out's doing.
    result, ran = ci_run(tmp_path, {ALLOW_SKIP: ""})
    assert (result.returncode, ran) == (0, True), result


def pytest_run(tmp_path: Path, body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pytest, with the suite's conftest as a plugin, on one test module of `body`."""
    (tmp_path / "test_one.py").write_text(f"import pytest\n\n\ndef test_one():\n{body}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GNOMON_TEST_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *PLUGINS, "test_one.py"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_with_a_skipped_test_fails_unless_the_opt_out_is_set(tmp_path: Path) -> None:
    skipping = '    pytest.skip("no chromium")'
    refused = pytest_run(tmp_path, skipping, {})
    assert refused.returncode == pytest.ExitCode.TESTS_FAILED, refused.stdout
    assert "1 test(s) skipped, so the run fails: a skip passes nothing" in refused.stdout
    allowed = pytest_run(tmp_path, skipping, {ALLOW_SKIP: "chromium"})
    assert allowed.returncode == pytest.ExitCode.OK, allowed.stdout
    assert "1 skipped" in allowed.stdout
    # The same run with nothing skipped passes: the failure above is the skip's doing.
    passing = pytest_run(tmp_path, "    pass", {})
    assert passing.returncode == pytest.ExitCode.OK, passing.stdout
