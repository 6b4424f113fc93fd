"""Run the firing benchmark matrix, each measurement in a fresh process, and write a JSON file.

    python bench/run_all.py                       # the engine-choice matrix, 3 repeats
    python bench/run_all.py --jobs 100 --seconds 2 --repeats 1 --engines gnomon-sqlite aps-memory

    python bench/run_all.py --cells gnomon-sqlite:1000:aligned:realistic:embedded \
        aps-memory:1000:aligned:realistic --seconds 8

Prints a table of medians over the repeats and, for each row, the ratio of gnomon's p99 lateness
and fires/s to bare APScheduler 3's (memory store) measured in the same run, with the same jobs,
phases and target. `--cap-repeats aps-sqlite 10000 1` measures one configuration fewer times
(each row records its `repeats`). `--cells` measures the listed cells instead of the matrix of
engines × jobs × modes, each `ENGINE:JOBS:MODE[:TARGET[:DECLARE]]` (bench/firing.py's
`--target`, default noop, and `--declare`, default toml).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_ENGINES = ["aps-memory", "aps-sqlite", "gnomon-sqlite", "gnomon-postgres"]
FIGURES = [
    "fires_per_s", "p50_ms", "p99_ms", "max_ms", "cpu_s", "peak_rss_mb", "setup_s", "first_fire_s",
    "cpu_us_per_fire", "tree_cpu_us_per_fire", "store_fires", "store_p50_ms", "store_p99_ms",
    "add_s", "fires",
]  # fmt: skip
COUNTS = ["missed", "coalesced", "unstarted"]  # gnomon only: fire times that did not start
SAMPLE_KEYS = [
    "fires_per_s", "p50_ms", "p99_ms", "max_ms", *COUNTS, "setup_s", "cpu_us_per_fire",
    "store_fires", "add_s",
]  # fmt: skip


@dataclass(frozen=True)
class Cell:
    engine: str
    jobs: int
    mode: str
    target: str = "noop"
    declare: str = "toml"

    @classmethod
    def parse(cls, text: str) -> Cell:
        """ENGINE:JOBS:MODE[:TARGET[:DECLARE]]"""
        engine, jobs, mode, *rest = text.split(":")
        return cls(engine, int(jobs), mode, *rest)


def measure(
    cell: Cell, seconds: float, warmup: float, python: str = sys.executable
) -> dict[str, Any]:
    """One run of bench/firing.py for `cell`, in a fresh process of `python` (another
    checkout's virtualenv, to measure its gnomon: bench/against.py)."""
    command = [
        python,
        str(BENCH_DIR / "firing.py"),
        "--engine", cell.engine,
        "--jobs", str(cell.jobs),
        "--mode", cell.mode,
        "--target", cell.target,
        "--declare", cell.declare,
        "--seconds", str(seconds),
        "--warmup", str(warmup),
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_row(samples: list[dict[str, Any]]) -> dict[str, Any]:
    row = dict(samples[0])
    for key in [*FIGURES, *COUNTS]:
        values = [s[key] for s in samples if s.get(key) is not None and s[key] == s[key]]
        row[key] = round(statistics.median(values), 2) if values else None
    row["repeats"] = len(samples)
    row["samples"] = [{key: s.get(key) for key in SAMPLE_KEYS} for s in samples]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", default=DEFAULT_ENGINES)
    parser.add_argument("--jobs", nargs="+", type=int, default=[100, 1000])
    parser.add_argument("--modes", nargs="+", default=["spread", "aligned"])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cap-repeats",
        nargs=3,
        action="append",
        default=[],
        metavar=("ENGINE", "JOBS", "REPEATS"),
        help="at most REPEATS measurements of ENGINE with JOBS jobs (repeatable)",
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        type=Cell.parse,
        metavar="ENGINE:JOBS:MODE[:TARGET[:DECLARE]]",
        help="measure these cells instead of --engines × --jobs × --modes",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "firing.json")
    args = parser.parse_args()
    caps = {(engine, int(jobs)): int(repeats) for engine, jobs, repeats in args.cap_repeats}
    cells = args.cells or [
        Cell(engine, jobs, mode)
        for jobs in args.jobs
        for mode in args.modes
        for engine in args.engines
    ]

    rows: list[dict[str, Any]] = []
    for cell in cells:
        repeats = min(args.repeats, caps.get((cell.engine, cell.jobs), args.repeats))
        samples = [measure(cell, args.seconds, args.warmup) for _ in range(repeats)]
        rows.append(median_row(samples))
        print(json.dumps(rows[-1]), file=sys.stderr)
    baseline = {(r["jobs"], r["mode"], r["target"]): r for r in rows if r["engine"] == "aps-memory"}
    for row in rows:
        base = baseline.get((row["jobs"], row["mode"], row["target"]))
        if base and base["p99_ms"]:
            row["p99_vs_aps_memory"] = round(row["p99_ms"] / base["p99_ms"], 2)
            row["fires_vs_aps_memory"] = round(row["fires_per_s"] / base["fires_per_s"], 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "seconds": args.seconds,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "cap_repeats": [[e, j, n] for (e, j), n in caps.items()],
        "cells": bool(args.cells),
    }
    result = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "settings": settings}
    args.out.write_text(json.dumps({**result, "rows": rows}, indent=2))
    header = f"{'engine':<16}{'jobs':>6} {'mode':<8}{'target':<20}{'fires/s':>9}{'p50 ms':>9}"
    header += f"{'p99 ms':>9}{'max ms':>9}{'missed':>8}{'cpu s':>7}{'µs/fire':>9}{'rss MB':>8}"
    header += f"{'1st s':>7}{'p99 ×aps':>9}"
    print(header)
    for r in rows:
        target = r["target"] + (f" ({r['declare']})" if r.get("declare") else "")
        print(
            f"{r['engine']:<16}{r['jobs']:>6} {r['mode']:<8}{target:<20}{r['fires_per_s']:>9}"
            f"{r['p50_ms']:>9}{r['p99_ms']:>9}{r['max_ms']!s:>9}{r['missed']!s:>8}"
            f"{r['cpu_s']:>7}{r.get('cpu_us_per_fire')!s:>9}{r['peak_rss_mb']:>8}"
            f"{r.get('first_fire_s')!s:>7}{r.get('p99_vs_aps_memory', '-')!s:>9}"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
