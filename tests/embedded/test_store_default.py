"""Without a configured store an embedded scheduler keeps everything in memory (as APScheduler's
default job store does) and writes no file; Alembic's INFO lines stay out of the app's log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gnomon
from gnomon.domain import RunStatus
from tests.embedded.conftest import wait_for_run
from tests.engine import targets

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent(
    """
    import logging, sys, time
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
    import gnomon

    def tick():
        pass

    def heard(event):
        print("tick", event.status)

    if __name__ == "__main__":
        scheduler = gnomon.Scheduler(timezone="UTC")
        scheduler.add_job(tick, "interval", seconds=1, id="tick")
        scheduler.add_listener(heard, gnomon.Events.FINISHED)
        scheduler.start()
        time.sleep(2.5)
        print("store:", scheduler.runtime.config.store_url)
        scheduler.shutdown()
    """
)


def test_no_file_is_written_and_no_migration_is_logged(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GNOMON_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, str(app)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "tick succeeded" in done.stdout
    assert "store: sqlite://\n" in done.stdout
    assert "alembic" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]  # no ./data, no database


def test_the_memory_store_takes_concurrent_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parent)  # no gnomon.toml here
    scheduler = gnomon.Scheduler(env={}, timezone="UTC")
    assert scheduler.runtime.config.store_url == "sqlite://"
    with scheduler:
        scheduler.add_jobs(
            [
                {"func": targets.ok, "trigger": "interval", "seconds": 1, "id": f"bulk-{i}"}
                for i in range(200)
            ]
        )
        for i in range(50):  # while the scheduler reads, claims and records runs
            scheduler.add_job(targets.ok, "interval", seconds=1, id=f"single-{i}")
            scheduler.get_jobs()
        wait_for_run(scheduler, "bulk-199")
        wait_for_run(scheduler, "single-49")
        assert scheduler.runtime.runs.list_runs(status=RunStatus.FAILED).items == []


def test_a_store_url_or_a_data_dir_keeps_the_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = gnomon.Scheduler(env={}, store_url=url)
    first.add_job(targets.ok, "interval", minutes=5, id="kept")
    first.shutdown()
    second = gnomon.Scheduler(env={"GNOMON_STORE_URL": url})
    assert [job.id for job in second.get_jobs()] == ["kept"]
    second.shutdown()
    (tmp_path / "gnomon.toml").write_text('data_dir = "state"\n', encoding="utf-8")
    third = gnomon.Scheduler(tmp_path / "gnomon.toml", env={})
    third.add_job(targets.ok, "interval", minutes=5, id="on-disk")
    third.shutdown()
    assert (tmp_path / "state" / "gnomon.db").is_file()


def test_the_timezone_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parent)
    scheduler = gnomon.Scheduler(env={}, timezone="Europe/Paris")
    job = scheduler.add_job(targets.ok, "cron", hour=3)
    assert job.trigger.timezone.key == "Europe/Paris"
    scheduler.shutdown()
