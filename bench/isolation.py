"""Per-run overhead of process isolation: a no-op target run in a thread and in a child process."""

#   python bench/isolation.py --runs 20
#
# Calls the executor directly (no store, no scheduler loop) --runs times per mode, after one
# warm-up run that starts the forkserver. `process` is a child forked from multiprocessing's
# forkserver with its default preload; `process, preloaded` is what gnomon's own processes get
# (the forkserver has already imported the executor, see preload_in_forkserver). Each mode runs
# in a fresh interpreter, since the forkserver's preload is fixed once it has started. Prints one
# JSON object: the median and p90 wall time per run in milliseconds.

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MODES = ("thread", "process", "process, preloaded")


def measure(mode: str, runs: int) -> list[float]:
    from gnomon.domain import (
        Isolation,
        JobDefinition,
        JobKind,
        Run,
        RunStatus,
        TriggerSource,
        utcnow,
    )
    from gnomon.engine.executors import run_job
    from gnomon.engine.executors.process import preload_in_forkserver

    if mode == "process, preloaded":
        preload_in_forkserver()
    definition = JobDefinition(
        id="noop",
        name="noop",
        trigger={"type": "interval", "seconds": 60},
        kind=JobKind.PYTHON,
        target="targets:noop",
        isolation=Isolation.THREAD if mode == "thread" else Isolation.PROCESS,
    )
    times = []
    for i in range(runs + 1):
        run = Run(
            id=f"run-{i}",
            job_id="noop",
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.RUNNING,
            queued_at=utcnow(),
        )
        started = time.perf_counter()
        outcome = run_job(definition, run, threading.Event())
        elapsed = time.perf_counter() - started
        assert outcome.status is RunStatus.SUCCEEDED, outcome
        if i:  # the first starts the forkserver
            times.append(elapsed * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in a child
    args = parser.parse_args()
    if args.mode:
        sys.path.insert(0, str(BENCH_DIR))
        print(json.dumps(measure(args.mode, args.runs)))
        return
    result = {}
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--mode", mode],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        times = json.loads(out.stdout)
        result[mode] = {
            "runs": len(times),
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(statistics.quantiles(times, n=10)[-1], 2),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
