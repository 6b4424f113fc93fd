"""Exactly once across OS processes: two claimers racing over the same fire times on one store."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gnomon
from gnomon.domain import JobDefinition, JobKind, JobRecord
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore

FIRE_TIMES = 500
FIRST = datetime(2030, 1, 1, tzinfo=UTC)
CLAIMER = Path(__file__).with_name("claimer.py")


def _env() -> dict[str, str]:
    src = str(Path(gnomon.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}


def test_two_processes_claiming_the_same_fire_times_record_each_once(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    definition = JobDefinition(
        id="tick", name="Tick", trigger={"type": "interval", "seconds": 1}, kind=JobKind.PYTHON
    )
    (record,) = store.write_jobs([JobWrite(JobRecord(definition, definition.trigger))])
    args = [store_url, "tick", str(record.revision), FIRST.isoformat(), str(FIRE_TIMES), "25"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(CLAIMER), *args, str(tmp_path), str(side)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for side in (0, 1)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    inserted = [int(out.split()[-1]) for out, _ in outputs]
    assert sum(inserted) == FIRE_TIMES
    # Both won some batches: the race really ran, rather than one process claiming alone.
    assert min(inserted) > 0, inserted
    page = store.list_runs(job_id="tick", limit=FIRE_TIMES * 2)
    assert len(page.items) == FIRE_TIMES
    assert len({r.scheduled_for for r in page.items}) == FIRE_TIMES
    last = FIRST + timedelta(seconds=FIRE_TIMES)
    assert store.get_job("tick").next_fire_time == last


def test_processes_upgrading_a_new_sqlite_file_together_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'gnomon.db'}"
    code = (
        "from gnomon.store.sql import SqlStore\n"
        f"store = SqlStore({url!r})\n"
        "store.upgrade()\n"
        "store.check_ready()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(3)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
    store = SqlStore(url)
    try:
        store.check_ready()
        assert store.change_counter() == 0
    finally:
        store.close()
