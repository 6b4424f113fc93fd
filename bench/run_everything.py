"""Run every benchmark (firing, API, felt latency, start-up); write one JSON file and its tables."""

#   python bench/run_everything.py                       # every figure: ~75 min (targets ~36)
#   python bench/run_everything.py --quick               # 1,000 jobs, 8 s windows: ~28 min
#   python bench/run_everything.py --tiny                # seconds: checks that everything runs
#   python bench/run_everything.py --parts firing --firing-jobs 10000
#   python bench/run_everything.py --quick --parts targets   # what each kind of job costs
#
# Each part is its own script in a fresh process, writing its own JSON next to the combined
# bench/results/all.json; bench/results/all.md renders it (bench/report.py, which can render it
# again later) and is printed at the end. The estimated wall time is printed before anything runs.

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from report import render  # noqa: E402

PARTS = ["firing", "targets", "api_latency", "felt_latency", "startup"]
ALL_ENGINES = ["aps-memory", "aps-sqlite", "gnomon-sqlite", "gnomon-postgres"]

# The firing matrix of each plan (bench/run_all.py's options).
FIRING: dict[str, dict[str, Any]] = {
    "full": {
        "engines": ALL_ENGINES, "jobs": [100, 1000, 10000], "modes": ["spread", "aligned"],
        "seconds": 20, "warmup": 3, "repeats": 3,
    },
    "quick": {
        "engines": ["aps-memory", "gnomon-sqlite", "gnomon-postgres"], "jobs": [1000],
        "modes": ["spread", "aligned"], "seconds": 8, "warmup": 2, "repeats": 3,
    },
    "tiny": {
        "engines": ["aps-memory", "aps-sqlite", "gnomon-sqlite"], "jobs": [10],
        "modes": ["spread"], "seconds": 1, "warmup": 1, "repeats": 1,
    },
}  # fmt: skip
OTHERS: dict[str, dict[str, list[str]]] = {
    "full": {
        "api_latency": [
            "api_latency.py", "--jobs", "10", "1000", "10000", "--concurrency", "1", "16",
            "--requests", "300", "--max-seconds", "4", "--repeats", "3",
        ],
        "felt_latency": ["felt_latency.py", "--samples", "30", "--pause-samples", "5"],
        "startup": ["startup.py", "--jobs", "1000", "10000", "--repeats", "3"],
    },
    "quick": {
        "api_latency": [
            "api_latency.py", "--jobs", "10", "1000", "10000", "--concurrency", "1", "16",
            "--requests", "400", "--max-seconds", "8", "--repeats", "1",
        ],
        "felt_latency": ["felt_latency.py", "--samples", "30", "--pause-samples", "5"],
        "startup": ["startup.py", "--jobs", "1000", "10000", "--repeats", "3"],
    },
    "tiny": {
        "api_latency": [
            "api_latency.py", "--jobs", "10", "--concurrency", "1", "4", "--requests", "20",
            "--max-seconds", "5", "--warmup", "2", "--repeats", "2",
        ],
        "felt_latency": [
            "felt_latency.py", "--samples", "3", "--pause-samples", "1",
            "--pg-database", "gnomon_bench_felt_smoke",
        ],
        "startup": ["startup.py", "--jobs", "10", "--repeats", "1", "--settle", "0.5"],
    },
}  # fmt: skip


def target_cells(jobs: int, isolated_jobs: int, big: int | None) -> list[str]:
    """The targets part's cells (bench/run_all.py --cells): on each of gnomon's stores, `jobs`
    jobs with each target (realistic declared in TOML and added through the embedded API),
    phases spread and aligned, and `isolated_jobs` process-isolated ones spread; APScheduler 3's
    stores with the realistic body. `big`: also that many realistic jobs spread (SQLite: TOML and
    embedded; PostgreSQL; APScheduler's memory store). APScheduler has no command jobs nor
    per-run processes: those cells are gnomon's only."""
    cells = []
    for engine in ("gnomon-sqlite", "gnomon-postgres"):
        for mode in ("spread", "aligned"):
            for body in ("noop", "realistic", "realistic:embedded", "command"):
                cells.append(f"{engine}:{jobs}:{mode}:{body}")
        cells.append(f"{engine}:{isolated_jobs}:spread:isolated")
    for engine in ("aps-memory", "aps-sqlite"):
        cells += [f"{engine}:{jobs}:{mode}:realistic" for mode in ("spread", "aligned")]
    if big:
        cells += [f"gnomon-sqlite:{big}:spread:realistic{way}" for way in ("", ":embedded")]
        cells += [
            f"{engine}:{big}:spread:realistic" for engine in ("gnomon-postgres", "aps-memory")
        ]
    return cells


# The targets part of each plan.
TARGETS: dict[str, dict[str, Any]] = {
    "full": {"cells": target_cells(1000, 100, 10000), "seconds": 20, "warmup": 3, "repeats": 3},
    "quick": {"cells": target_cells(1000, 100, None), "seconds": 8, "warmup": 2, "repeats": 3},
    "tiny": {
        "cells": [
            "gnomon-sqlite:10:spread:noop", "gnomon-sqlite:10:spread:realistic",
            "gnomon-sqlite:10:spread:realistic:embedded", "gnomon-sqlite:10:spread:command",
            "gnomon-sqlite:4:spread:isolated", "aps-memory:10:spread:realistic",
        ],
        "seconds": 1, "warmup": 2, "repeats": 1,
    },
}  # fmt: skip

# Seconds of set-up per job, measured on a 2-core machine, for the estimate only; APScheduler's
# SQLAlchemy store (one transaction per added job) is measured at the start of each run instead.
SETUP_S_PER_JOB = {"aps-memory": 0.00005, "gnomon-sqlite": 0.00035, "gnomon-postgres": 0.0004}
PROBE_JOBS = 300
SETUP_LIMIT_S = 120  # beyond this much set-up per run, a configuration is measured once


def option(argv: list[str], flag: str, default: list[str]) -> list[str]:
    """The values after `flag` in an argv (up to the next option)."""
    if flag not in argv:
        return default
    values = argv[argv.index(flag) + 1 :]
    return next((values[:i] for i, v in enumerate(values) if v.startswith("--")), values)


def probe_add_ms(jobs: int) -> float:
    """Milliseconds APScheduler's SQLAlchemy store on SQLite takes to add one job, here and now."""
    command = [sys.executable, str(BENCH_DIR / "firing.py"), "--engine", "aps-sqlite"]
    command += ["--jobs", str(jobs), "--probe-add"]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["add_ms_per_job"])


def firing_caps(firing: dict[str, Any], add_ms: float | None) -> list[list[Any]]:
    if add_ms is None or "aps-sqlite" not in firing["engines"]:
        return []
    slow = [jobs for jobs in firing["jobs"] if jobs * add_ms / 1000 > SETUP_LIMIT_S]
    return [["aps-sqlite", jobs, 1] for jobs in slow]


def firing_argv(firing: dict[str, Any], caps: list[list[Any]]) -> list[str]:
    argv = ["run_all.py", "--engines", *firing["engines"]]
    argv += ["--jobs", *map(str, firing["jobs"]), "--modes", *firing["modes"]]
    for key in ("seconds", "warmup", "repeats"):
        argv += [f"--{key}", str(firing[key])]
    for engine, jobs, repeats in caps:
        argv += ["--cap-repeats", engine, str(jobs), str(repeats)]
    return argv


def estimate_firing(firing: dict[str, Any], caps: list[list[Any]], add_ms: float | None) -> float:
    per_job = {**SETUP_S_PER_JOB, "aps-sqlite": (add_ms or 1.0) / 1000}
    capped = {(engine, jobs): repeats for engine, jobs, repeats in caps}
    total = 0.0
    for jobs in firing["jobs"]:
        for engine in firing["engines"]:
            # Process start, the window opening on the next whole second, the window, 1.5 s to
            # let the last fires be recorded, and gnomon's shutdown.
            one = 1.0 + firing["warmup"] + 0.5 + firing["seconds"] + 1.5 + jobs * per_job[engine]
            one += 1.0 if engine.startswith("gnomon") else 0.0
            repeats = min(firing["repeats"], capped.get((engine, jobs), firing["repeats"]))
            total += one * repeats * len(firing["modes"])
    return total


def targets_argv(targets: dict[str, Any]) -> list[str]:
    argv = ["run_all.py", "--cells", *targets["cells"]]
    for key in ("seconds", "warmup", "repeats"):
        argv += [f"--{key}", str(targets[key])]
    return argv


def estimate_targets(targets: dict[str, Any], add_ms: float | None) -> float:
    per_job = {**SETUP_S_PER_JOB, "aps-sqlite": (add_ms or 1.0) / 1000}
    total = 0.0
    for cell in targets["cells"]:
        engine, jobs = cell.split(":")[0], int(cell.split(":")[1])
        one = 1.0 + targets["warmup"] + 0.5 + targets["seconds"] + 1.5 + jobs * per_job[engine]
        total += (one + (1.0 if engine.startswith("gnomon") else 0.0)) * targets["repeats"]
    return total


def estimate_other(name: str, argv: list[str]) -> float:
    """Seconds a part should take; for the API, at most (every cell running to its time limit)."""
    if name == "api_latency":
        counts = option(argv, "--jobs", ["10", "1000", "10000"])
        concurrency = option(argv, "--concurrency", ["1", "16"])
        repeats = int(option(argv, "--repeats", ["3"])[0])
        cell = float(option(argv, "--max-seconds", ["4"])[0])
        # Two servers, four endpoints (each with a warm-up), a wait for quiet after each cell.
        per_count = 2 * repeats * 4 * (len(concurrency) * (cell + 0.3) + 0.5) + 20
        return len(counts) * per_count
    if name == "felt_latency":
        samples = int(option(argv, "--samples", ["30"])[0])
        pauses = int(option(argv, "--pause-samples", ["5"])[0])
        return 2 * (8 + samples * 0.15 + pauses * 4.5) + 10
    sizes = [int(n) for n in option(argv, "--jobs", ["1000", "10000"])]
    runs = int(option(argv, "--repeats", ["3"])[0])
    settle = float(option(argv, "--settle", ["3"])[0])
    return sum(runs * (2.5 + n * SETUP_S_PER_JOB["gnomon-sqlite"] + settle) for n in sizes)


def run_part(name: str, argv: list[str], out: Path, estimate_s: float) -> dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / argv[0]), *argv[1:], "--out", str(out)]
    print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    timeout = 3 * estimate_s + 600
    subprocess.run(command, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text())
    result["command"] = " ".join(["python", f"bench/{argv[0]}", *argv[1:]])
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(f"  {name}: {result['wall_s']} s", file=sys.stderr, flush=True)
    return result


def versions() -> dict[str, str]:
    found = {}
    for name in ("gnomon", "APScheduler", "Flask-APScheduler"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_true", help="tiny sizes, for a smoke test")
    size.add_argument("--quick", action="store_true", help="1,000 jobs, short windows, 1 API pass")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--firing-jobs", nargs="+", type=int, help="only these firing job counts")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "all.json")
    parser.add_argument("--plan-only", action="store_true", help="print the plan, run nothing")
    args = parser.parse_args()
    started = time.monotonic()
    plan = "tiny" if args.tiny else "quick" if args.quick else "full"
    firing = {**FIRING[plan], **({"jobs": args.firing_jobs} if args.firing_jobs else {})}
    targets = TARGETS[plan]
    add_ms = None
    if ("firing" in args.parts and "aps-sqlite" in firing["engines"]) or "targets" in args.parts:
        add_ms = probe_add_ms(PROBE_JOBS)
    caps = firing_caps(firing, add_ms)
    argvs = {"firing": firing_argv(firing, caps), "targets": targets_argv(targets), **OTHERS[plan]}
    estimates = {
        name: estimate_firing(firing, caps, add_ms)
        if name == "firing"
        else estimate_targets(targets, add_ms)
        if name == "targets"
        else estimate_other(name, argvs[name])
        for name in args.parts
    }
    print(
        f"plan {plan}: "
        + ", ".join(
            f"{name} {'≤' if name == 'api_latency' else '~'}{s / 60:.1f} min"
            for name, s in estimates.items()
        )
        + f"; at most about {sum(estimates.values()) / 60:.0f} minutes in all",
        file=sys.stderr,
    )
    if add_ms is not None:
        print(
            f"APScheduler's SQLAlchemy store adds a job in {add_ms:g} ms; "
            + (f"measured once: {caps}" if caps else "no configuration capped"),
            file=sys.stderr,
        )
    if args.plan_only:
        for name in args.parts:
            print(" ".join(["python", f"bench/{argvs[name][0]}", *argvs[name][1:]]))
        return

    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "plan": plan,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(terse=True),
        },
        "versions": versions(),
        "estimate_s": {name: round(s) for name, s in estimates.items()},
    }
    for name in args.parts:
        part_out = args.out.with_name(f"{args.out.stem}-{name}.json")
        results[name] = run_part(name, argvs[name], part_out, estimates[name])
    for name in ("firing", "targets"):
        if name in results:
            results[name]["aps_sqlite_add_ms_per_job"] = add_ms
    results["wall_s"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(results, indent=2))
    markdown = render(results)
    args.out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"\nwritten to {args.out} and {args.out.with_suffix('.md')} in {results['wall_s']} s")


if __name__ == "__main__":
    main()
