"""Adding jobs through the embedding API: one by one (add_job) against one call (add_jobs).

    python bench/embedded_add.py                          # 1,000 and 10,000 jobs, 3 rounds
    python bench/embedded_add.py --counts 1000 --rounds 5 --modes stopped

Each measurement runs in a fresh interpreter on a fresh SQLite store in a temporary directory
(``--store-url`` for another, e.g. PostgreSQL: it must be empty). `stopped`: jobs added before
`start()` (the store only); `running`: added while the scheduler runs, which reloads the jobs
it is told changed. Jobs fire hourly, so none fires while measured. Prints, per mode and count,
the median wall and CPU seconds (CPU of the whole process, every thread) of each way and their
ratio to one-by-one measured in the same run; `--json` prints the rows as JSON too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WAYS = ("one-by-one", "bulk")
CONFIG = """
data_dir = "data"
[scheduler]
timezone = "UTC"
[[jobs]]
id = "gnomon.prune_runs"
enabled = false
"""


def measure_once(way: str, count: int, mode: str, store_url: str | None) -> dict[str, float]:
    """Add `count` jobs `way` on a fresh store; wall and CPU seconds."""
    import gnomon

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gnomon.toml"
        config.write_text(CONFIG, encoding="utf-8")
        env = {"GNOMON_STORE_URL": store_url} if store_url else {}
        scheduler = gnomon.Scheduler(config, env=env)
        if mode == "running":
            scheduler.start()
        jobs: list[dict[str, Any]] = [
            {"func": "targets:noop", "trigger": "interval", "hours": 1, "id": f"job-{i:06}"}
            for i in range(count)
        ]
        # The store migrated and the modules imported before the clock starts.
        scheduler.add_job("targets:noop", "interval", hours=1, id="warm-up")
        wall, cpu = time.perf_counter(), time.process_time()
        if way == "bulk":
            scheduler.add_jobs(jobs)
        else:
            for job in jobs:
                func = job.pop("func")
                scheduler.add_job(func, job.pop("trigger"), **job)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        added = len(scheduler.get_jobs()) - 1
        scheduler.shutdown(grace=5)
    if added != count:
        raise SystemExit(f"{added} jobs in the store, expected {count}")
    return {"wall_s": wall, "cpu_s": cpu}


def measure(way: str, count: int, mode: str, store_url: str | None) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--one", way, "--counts", str(count), "--modes", mode,
    ]  # fmt: skip
    if store_url:
        command += ["--store-url", store_url]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=BENCH_DIR)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=["stopped", "running"], default=None)
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = args.modes or ["stopped", "running"]
    if args.one:
        sys.path.insert(0, str(BENCH_DIR))  # targets:noop
        print(json.dumps(measure_once(args.one, args.counts[0], modes[0], args.store_url)))
        return
    rows = []
    print(f"{'mode':8} {'jobs':>6} {'way':11} {'wall s':>8} {'cpu s':>8} {'ms/job':>7} "
          f"{'wall ×':>8} {'cpu ×':>8}")  # fmt: skip
    for mode in modes:
        for count in args.counts:
            samples: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
            for _ in range(args.rounds):
                for way in WAYS:  # interleaved: drift in the machine's load hits both alike
                    samples[way].append(measure(way, count, mode, args.store_url))
            medians = {
                way: {
                    key: statistics.median(s[key] for s in samples[way])
                    for key in ("wall_s", "cpu_s")
                }
                for way in WAYS
            }
            base = medians["one-by-one"]
            for way in WAYS:
                figures = medians[way]
                row = {
                    "mode": mode,
                    "jobs": count,
                    "way": way,
                    "rounds": args.rounds,
                    "wall_s": round(figures["wall_s"], 3),
                    "cpu_s": round(figures["cpu_s"], 3),
                    "ms_per_job": round(figures["wall_s"] / count * 1000, 3),
                    "wall_ratio": round(figures["wall_s"] / base["wall_s"], 4),
                    "cpu_ratio": round(figures["cpu_s"] / base["cpu_s"], 4),
                }
                rows.append(row)
                print(
                    f"{mode:8} {count:>6} {way:11} {row['wall_s']:>8.3f} {row['cpu_s']:>8.3f} "
                    f"{row['ms_per_job']:>7.3f} {row['wall_ratio']:>8.4f} {row['cpu_ratio']:>8.4f}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
