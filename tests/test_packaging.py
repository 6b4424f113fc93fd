"""gnomon as people install it: the sdist and the wheel built from this tree, the wheel installed
into a fresh virtualenv (nothing of this tree on its path), and `gnomon serve` from there
serving a console that chromium logs in to, and running the README's demo as the sdist ships it.

The wheel is built the way `python -m build` builds it for a release: from the sdist, so a file
missing from either one is caught. pip installs the wheel's dependencies from its index and its
cache (a warm cache makes the whole module take about half a minute).
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.components import missing
from tests.e2e.procs import wait_for
from tests.e2e.servers import free_port
from tests.web.server import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("processes")]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gnomon"
ADMIN_PASSWORD = "wheel-admin-password"

CONFIG = """
data_dir = "data"

[scheduler]
timezone = "UTC"

[[jobs]]
id = "hello"
name = "Say hello"
command = ["echo", "hello"]
trigger = { type = "cron", expression = "0 0 12 1 1 * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment less what would lead the installed gnomon back to this tree
    (PYTHONPATH, the virtualenv) or to this test run's gnomon settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not key.startswith("GNOMON_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return {**env, **extra}


def run(args: list[str | Path], timeout: float, **kwargs: object) -> str:
    """Run a command, failing the test with its output if it fails; returns its output."""
    done = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return str(done.stdout)


def package_files() -> set[str]:
    """Every file of src/gnomon, relative to src/ (byte code left out)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy of the tree: building writes src/gnomon.egg-info, which an editable
    # install or another build of the same checkout may be rewriting at the same moment.
    tree = tmp_path_factory.mktemp("tree") / "gnomon"
    junk = (".git", ".venv", "*.egg-info", "__pycache__", ".*_cache", "build", "dist", "data")
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*junk))
    # The sdist from the tree, then the wheel from the sdist, each in its own build environment.
    run([sys.executable, "-m", "build", "--outdir", out, tree], timeout=300, env=clean_env())
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return Dists(wheel, sdist)


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed, without extras."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", home], timeout=60, env=clean_env())
    python = home / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", python, "install", "-q", dists.wheel]
    run(install, timeout=300, env=clean_env())
    return home


def test_the_wheel_and_the_sdist_hold_every_file_of_the_package_and_the_license(
    dists: Dists,
) -> None:
    wanted = package_files()
    assert {"gnomon/web/templates/jobs.html", "gnomon/web/static/console.css"} <= wanted
    with zipfile.ZipFile(dists.wheel) as wheel:
        in_wheel = set(wheel.namelist())
        [metadata_name] = [name for name in in_wheel if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(metadata_name))
    assert sorted(wanted - in_wheel) == []
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel)
    with tarfile.open(dists.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(f"{top}/src/") for name in sdist.getnames()}
        assert f"{top}/LICENSE" in sdist.getnames()
    assert sorted(wanted - in_sdist) == []
    assert not [name for name in in_sdist if name.startswith(f"{top}/tests/")]  # all or none

    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert metadata.get_all("Provides-Extra") == ["postgres", "celery"]
    psycopg = [r for r in metadata.get_all("Requires-Dist", []) if r.startswith("psycopg")]
    assert psycopg == ['psycopg[binary]>=3.2; extra == "postgres"']
    celery = [r for r in metadata.get_all("Requires-Dist", []) if r.startswith("celery")]
    assert celery == ['celery[redis]<6,>=5.4; extra == "celery"']


def test_the_installed_gnomon_runs_from_the_virtualenv_without_psycopg(
    venv: Path, tmp_path: Path
) -> None:
    probe = (
        "import gnomon, importlib.util\n"
        "print(gnomon.__file__)\n"
        "print(importlib.util.find_spec('psycopg'))\n"
    )
    out = run([venv / "bin" / "python", "-c", probe], timeout=60, cwd=tmp_path, env=clean_env())
    where, psycopg = out.splitlines()
    assert Path(where).is_relative_to(venv), where
    assert psycopg == "None"  # the postgres extra was not asked for

    # A PostgreSQL store then says which extra to install.
    done = subprocess.run(
        [venv / "bin" / "gnomon", "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(GNOMON_STORE_URL="postgresql://gnomon@127.0.0.1:1/gnomon"),
        check=False,
    )
    assert done.returncode == 1, done
    assert "pip install 'gnomon[postgres]'" in done.stderr

    # So does a worker, for Celery.
    done = subprocess.run(
        [venv / "bin" / "gnomon", "worker"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(GNOMON_CELERY_BROKER_URL="redis://127.0.0.1:1/0"),
        check=False,
    )
    assert done.returncode == 2, done
    assert "pip install 'gnomon[celery]'" in done.stderr


@contextmanager
def serving(venv: Path, config: Path, cwd: Path, log_path: Path) -> Iterator[str]:
    """`gnomon serve --config CONFIG` of the installed wheel, run in `cwd` on a free port, until
    the block ends; yields its URL once /readyz answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [venv / "bin" / "gnomon", "serve", "--config", config, "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=clean_env(GNOMON_ADMIN_PASSWORD=ADMIN_PASSWORD),
        )

    def ready() -> bool:
        assert process.poll() is None, f"gnomon serve exited:\n{log_path.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        wait_for(ready, timeout=30, what="the installed gnomon serve to answer /readyz")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[str]:
    """`gnomon serve` of the installed wheel on SQLite, on a free port; yields its URL."""
    site = tmp_path / "site"
    site.mkdir()
    config = site / "gnomon.toml"
    config.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    with serving(venv, config, site, tmp_path / "serve.log") as url:
        yield url


def test_the_plain_install_runs_the_readme_demo_from_the_sdist(
    dists: Dists, venv: Path, tmp_path: Path
) -> None:
    """The README's demo (scripts/demo.sh: `gnomon serve --config examples/gnomon.toml` in the
    project's directory) as the sdist ships it, served by the wheel installed without extras:
    its Python job, imported from the sdist's examples/, runs and succeeds."""
    with tarfile.open(dists.sdist) as sdist:
        sdist.extractall(tmp_path, filter="data")
    [top] = tmp_path.glob("gnomon-*")
    config = Path("examples") / "gnomon.toml"
    with serving(venv, config, top, tmp_path / "demo.log"):
        listing = [venv / "bin" / "gnomon", "runs", "list", "--config", config, "--job", "hello"]
        listing += ["--status", "succeeded", "--json"]

        def succeeded() -> list[object]:
            out = run(listing, timeout=60, cwd=top, env=clean_env())
            items: list[object] = json.loads(out)["items"]
            return items

        wait_for(succeeded, timeout=60, what="a succeeded run of the demo's hello job", every=2)


def test_the_installed_wheel_serves_a_console_that_logs_in_and_lists_the_jobs(
    served: str,
) -> None:
    with urllib.request.urlopen(f"{served}/console/static/console.css", timeout=5) as answer:
        assert answer.status == 200
    if not Path(CHROMIUM).exists():
        missing("chromium", f"chromium is not installed at {CHROMIUM}", "Install it")
    # In a thread of its own: the browser tests' session-wide Playwright may be running an
    # event loop in this worker's main thread, where a second sync Playwright refuses to start.
    failures: list[BaseException] = []

    def check() -> None:
        try:
            _log_in_and_see_the_jobs(served)
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    thread = threading.Thread(target=check, name="wheel-console-check")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def _log_in_and_see_the_jobs(served: str) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=served)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/login?next=/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#whoami")).to_contain_text("admin", timeout=15_000)
            # The overview (the home page), its chart drawn by the installed package …
            expect(page.locator("#ov-next tr[data-job-id=hello]")).to_be_visible()
            page.wait_for_function(
                "() => document.querySelector('#ov-chart').naturalWidth > 0", timeout=15_000
            )
            # … and the jobs table.
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
            row = page.locator("#jobs-table tr[data-job-id=hello]")
            expect(row).to_contain_text("Say hello")
            expect(row.locator("[data-state]")).to_have_text("Scheduled")
            assert not errors, f"JavaScript errors: {errors}"
        finally:
            browser.close()
