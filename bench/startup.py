"""Start-up of `gnomon scheduler` on SQLite: process start to first fire, and peak RSS."""

#   python bench/startup.py --jobs 1000 10000 --repeats 3
#
# Each measurement starts a fresh `python -m gnomon scheduler` on a new SQLite file with N interval
# jobs firing every second (phases spread over the second, as bench/firing.py declares them). The
# first fire is the earliest started_at in the runs table, minus the wall clock just before the
# process was spawned; peak RSS is the process's VmHWM (/proc/<pid>/status) read --settle seconds
# after that first fire. Prints one JSON object with each sample and the medians.

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from firing import as_dt, gnomon_config  # noqa: E402
from servers import ADMIN_PASSWORD, vm_hwm_mb, wait_for  # noqa: E402


def first_started(db: Path) -> datetime | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            value = conn.execute("SELECT min(started_at) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return None  # not created or not migrated yet
    return None if value is None else as_dt(value)


def measure(jobs: int, settle: float, timeout: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    db = workdir / "gnomon.db"
    config = workdir / "gnomon.toml"
    gnomon_config(config, jobs, "spread", datetime(2020, 1, 1, tzinfo=UTC), f"sqlite:///{db}")
    env = {k: v for k, v in os.environ.items() if k != "GNOMON_CONFIG"}
    env["GNOMON_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    with (workdir / "scheduler.log").open("wb") as log:
        spawned = datetime.now(UTC)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gnomon", "scheduler", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:

            def fired() -> datetime | None:
                if proc.poll() is not None:
                    raise RuntimeError(f"scheduler exited early: see {workdir / 'scheduler.log'}")
                return first_started(db)

            first = wait_for(fired, timeout=timeout, what="the first fire", every=0.02)
            time.sleep(settle)
            rss = vm_hwm_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with its log, after a failure
    return {"first_fire_s": round((first - spawned).total_seconds(), 3), "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settle", type=float, default=3, help="seconds after the first fire")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "startup.json")
    args = parser.parse_args()
    rows = []
    for jobs in args.jobs:
        samples = [measure(jobs, args.settle, args.timeout) for _ in range(args.repeats)]
        rows.append(
            {
                "jobs": jobs,
                "repeats": len(samples),
                "first_fire_s": round(statistics.median(s["first_fire_s"] for s in samples), 3),
                "peak_rss_mb": round(statistics.median(s["peak_rss_mb"] or 0 for s in samples), 1),
                "samples": samples,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
