"""Compare this checkout's firing with another checkout's, in runs that alternate.

    git worktree add --detach ../gnomon-before <commit>
    (cd ../gnomon-before && bash scripts/setup.sh)
    python bench/against.py ../gnomon-before --jobs 1000 --mode aligned --rounds 3

Each round runs bench/firing.py (this checkout's, so both sides are measured the same way) once
with the other checkout's virtualenv, which imports its gnomon, and once with this one's, one
fresh process each, in turn: a machine that drifts during the comparison drifts for both. Prints
each run, then per side the median and range of p50, p99 and CPU µs per fire, and today's
medians over the other's. Only for what both checkouts can run (the firing benchmark's TOML jobs
and its targets).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from run_all import Cell, measure  # noqa: E402

HERE = BENCH_DIR.parent
FIGURES = ("p50_ms", "p99_ms", "cpu_us_per_fire")


def summary(samples: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """Per figure: median, lowest, highest."""
    out = {}
    for figure in FIGURES:
        values = [s[figure] for s in samples if s.get(figure) is not None]
        out[figure] = (statistics.median(values), min(values), max(values))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (with its .venv set up)")
    parser.add_argument("--engine", default="gnomon-sqlite")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--mode", choices=["spread", "aligned"], default="spread")
    parser.add_argument("--target", default="noop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args()
    sides = {
        "other": args.other.resolve() / ".venv" / "bin" / "python",
        "this": HERE / ".venv" / "bin" / "python",
    }
    for name, python in sides.items():
        if not python.exists():
            parser.error(f"{name} checkout has no virtualenv at {python}")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for round_number in range(1, args.rounds + 1):
        for name, python in sides.items():
            cell = Cell(args.engine, args.jobs, args.mode, args.target)
            result = measure(cell, args.seconds, args.warmup, python=str(python))
            samples[name].append(result)
            figures = ", ".join(f"{f} {result.get(f)}" for f in FIGURES)
            print(f"round {round_number} {name}: fires {result['fires']} of "
                  f"{result['expected_fires']}, {figures}", flush=True)  # fmt: skip
    medians = {name: summary(runs) for name, runs in samples.items()}
    for name, summarised in medians.items():
        text = ", ".join(f"{f} {m:g} ({lo:g}-{hi:g})" for f, (m, lo, hi) in summarised.items())
        print(f"{name}: {text}")
    ratios = ", ".join(
        f"{f} {medians['this'][f][0] / medians['other'][f][0]:.2f}×"
        for f in FIGURES
        if medians["other"][f][0]
    )
    print(f"this over other, medians: {ratios}")


if __name__ == "__main__":
    main()
