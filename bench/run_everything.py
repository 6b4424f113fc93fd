"""Run every benchmark (firing, API latency, felt latency, start-up) and write one JSON file."""

#   python bench/run_everything.py            # full size, about 9 minutes on 2 cores
#   python bench/run_everything.py --tiny     # seconds: checks that everything runs
#
# Each part is its own script in a fresh process, writing its own JSON next to the combined
# bench/results/all.json; a summary table of the headline figures is printed at the end.

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PARTS = ["firing", "api_latency", "felt_latency", "startup"]

FULL: dict[str, list[str]] = {
    "firing": [
        "run_all.py", "--engines", "aps-memory", "gnomon-sqlite", "gnomon-postgres",
        "--jobs", "1000", "--modes", "spread", "aligned",
        "--seconds", "8", "--warmup", "2", "--repeats", "3",
    ],
    "api_latency": [
        "api_latency.py", "--jobs", "10", "1000", "10000", "--concurrency", "1", "16",
        "--requests", "400", "--max-seconds", "8",
    ],
    "felt_latency": ["felt_latency.py", "--samples", "30", "--pause-samples", "5"],
    "startup": ["startup.py", "--jobs", "1000", "10000", "--repeats", "3"],
}  # fmt: skip
TINY: dict[str, list[str]] = {
    "firing": [
        "run_all.py", "--engines", "aps-memory", "gnomon-sqlite", "--jobs", "10",
        "--modes", "spread", "--seconds", "1", "--warmup", "1", "--repeats", "1",
    ],
    "api_latency": [
        "api_latency.py", "--jobs", "10", "--concurrency", "1", "4", "--requests", "20",
        "--max-seconds", "5", "--warmup", "2",
    ],
    "felt_latency": [
        "felt_latency.py", "--samples", "3", "--pause-samples", "1",
        "--pg-database", "gnomon_bench_felt_smoke",
    ],
    "startup": ["startup.py", "--jobs", "10", "--repeats", "1", "--settle", "0.5"],
}  # fmt: skip


def run_part(name: str, argv: list[str], out: Path) -> dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / argv[0]), *argv[1:], "--out", str(out)]
    print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, timeout=1800, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text())
    result["command"] = " ".join(["python", f"bench/{argv[0]}", *argv[1:]])
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(f"  {name}: {result['wall_s']} s", file=sys.stderr, flush=True)
    return result


def print_summary(results: dict[str, Any]) -> None:
    if "firing" in results:
        print("\nFiring (medians; p99 × = gnomon p99 / APScheduler memory p99, same run)")
        print(
            f"{'engine':<16}{'jobs':>6} {'mode':<8}{'fires/s':>9}{'p50 ms':>9}{'p99 ms':>9}", end=""
        )
        print(f"{'missed':>8}{'p99 ×':>8}")
        for r in results["firing"]["rows"]:
            print(
                f"{r['engine']:<16}{r['jobs']:>6} {r['mode']:<8}{r['fires_per_s']:>9}"
                f"{r['p50_ms']:>9}{r['p99_ms']:>9}{r['missed']!s:>8}"
                f"{r.get('p99_vs_aps_memory', '-')!s:>8}"
            )
    if "api_latency" in results:
        print("\nAPI (gunicorn 1 worker gthread 4 threads; × = gnomon req/s / Flask-APScheduler's)")
        print(f"{'target':<18}{'jobs':>6} {'endpoint':<12}{'conc':>5}{'req/s':>9}", end="")
        print(f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}{'×':>7}")
        for r in results["api_latency"]["rows"]:
            print(
                f"{r['target']:<18}{r['jobs']:>6} {r['endpoint']:<12}{r['concurrency']:>5}"
                f"{r['rps']!s:>9}{r['p50_ms']!s:>9}{r['p99_ms']!s:>9}{r['errors']:>7}"
                f"{r.get('rps_vs_flask_apscheduler', '-')!s:>7}"
            )
        print(f"GET /jobs req/s ratio: {results['api_latency']['list_rps_ratio']}")
    if "felt_latency" in results:
        print("\nFelt latency (ms; median / p90)")
        for setting, value in results["felt_latency"].items():
            if not isinstance(value, dict):
                continue
            for what, s in value.items():
                if isinstance(s, dict) and "median_ms" in s:
                    print(f"{setting:<24}{what:<30}{s['median_ms']!s:>9}{s['p90_ms']!s:>9}")
    if "startup" in results:
        print("\nStart-up, gnomon scheduler on SQLite (medians)")
        for r in results["startup"]["rows"]:
            print(
                f"jobs {r['jobs']:>6}: first fire {r['first_fire_s']} s, "
                f"peak RSS {r['peak_rss_mb']} MB ({r['repeats']} runs)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "all.json")
    args = parser.parse_args()
    plans = TINY if args.tiny else FULL
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name in args.parts:
        part_out = args.out.with_name(f"{args.out.stem}-{name}.json")
        results[name] = run_part(name, plans[name], part_out)
    results["wall_s"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(results, indent=2))
    print_summary(results)
    print(f"\nwritten to {args.out} in {results['wall_s']} s")


if __name__ == "__main__":
    main()
