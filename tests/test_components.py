"""A missing chromium or PostgreSQL fails its tests unless GNOMON_TEST_ALLOW_SKIP names it,
which .ci/run refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.components import ALLOW_SKIP, allowed_skips, missing

ROOT = Path(__file__).resolve().parent.parent


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
    with pytest.raises(pytest.UsageError, match="names postgress; it takes: chromium, postgres"):
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
