"""Render a run's combined JSON (bench/results/all.json) as the Markdown tables the README shows."""

#   python bench/report.py                                   # all.json → all.md, next to it
#   python bench/report.py bench/results/all.json --out -    # to stdout
#
# bench/run_everything.py calls `render` at the end of each run; this script renders again from
# a kept JSON file without measuring anything. Every ratio is between figures of the same run.

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from goals import judge  # noqa: E402

ENGINES = {
    "aps-memory": "APScheduler {aps}, memory store",
    "aps-sqlite": "APScheduler {aps}, SQLAlchemy store on SQLite",
    "gnomon-sqlite": "gnomon, SQLite",
    "gnomon-postgres": "gnomon, PostgreSQL",
}
ENDPOINTS = {
    "list": "`GET /jobs`",
    "get": "`GET /jobs/{id}`",
    "put_trigger": "`PUT /jobs/{id}` trigger (FAS: `PATCH`)",
    "run": "`POST …/actions/run` (FAS: `POST …/run`)",
}
FELT = {
    "response_to_started": "run requested (response) → run started",
    "queued_to_started": "run queued → run started",
}


def num(value: float | None) -> str:
    """A figure as the README prints it: 1,000 / 123 / 45.6 / 7.89; – when absent."""
    if value is None or value != value:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def count(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:,.0f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def heading(results: dict[str, Any]) -> list[str]:
    machine = results.get("machine", {})
    versions = results.get("versions", {})
    wall = results.get("wall_s")
    lines = [f"# gnomon performance: run of {results.get('at', '?')}", ""]
    if machine:
        lines.append(
            f"{machine.get('cpus', '?')} CPUs, {machine.get('system', '?')}, "
            f"Python {machine.get('python', '?')}; "
            + ", ".join(f"{name} {version}" for name, version in versions.items())
            + "."
        )
    took = "" if not wall else f", {wall:.0f} s" if wall < 120 else f", {wall / 60:.0f} minutes"
    lines.append(
        f"Plan `{results.get('plan', '?')}`{took}. Reproduce with `python bench/run_everything.py`;"
        " re-render with `python bench/report.py`."
    )
    return [*lines, ""]


def firing(part: dict[str, Any], aps: str) -> list[str]:
    settings = part.get("settings", {})
    window = f"{settings.get('seconds', '?'):g} s windows after {settings.get('warmup', '?'):g} s"
    lines = [
        "## Firing precision and capacity",
        "",
        "N interval jobs every second, phases spread evenly over the second or all aligned on one "
        f"instant; {window} of warm-up, one fresh process per run, medians over the runs; gnomon "
        "writes every run record. Lateness is a fire's actual start minus its scheduled time. "
        "p99 × is p99 over APScheduler's memory store's p99 with the same jobs and phases, in the "
        "same run.",
        "",
    ]
    rows = []
    for r in part["rows"]:
        rows.append(
            [
                f"{r['jobs']:,}",
                r["mode"],
                ENGINES.get(r["engine"], r["engine"]).format(aps=aps),
                f"{num(r['fires_per_s'])} of {r['jobs']:,}",
                num(r["p50_ms"]),
                num(r["p99_ms"]),
                num(r.get("max_ms")),
                not_started(r),
                num(r.get("cpu_s")),
                num(r.get("peak_rss_mb")),
                num(r.get("p99_vs_aps_memory")),
                str(r.get("repeats", "?")),
            ]
        )
    header = ["jobs", "phases", "engine", "fires/s of expected", "p50 ms", "p99 ms", "max ms"]
    header += ["missed", "CPU s", "peak RSS MB", "p99 ×", "runs"]
    lines += table(header, rows)
    lines += [
        "",
        "missed: gnomon's runs recorded missed or skipped; coalesced: further fire times a run "
        "stood for; unstarted: runs still queued at the end. APScheduler records no missed "
        "fires (compare its fires/s with the expected) and its lateness is measured by the job "
        "itself modulo one second, so under a backlog its figures are lower bounds.",
    ]
    add_ms = part.get("aps_sqlite_add_ms_per_job")
    if add_ms is not None:
        caps = settings.get("cap_repeats") or []
        capped = "".join(f"; {e} with {j:,} jobs: {n} run only" for e, j, n in caps)
        lines += ["", f"APScheduler's SQLAlchemy store took {add_ms:g} ms to add a job{capped}."]
    return [*lines, ""]


TARGETS = {
    "noop": "`noop()`",
    "realistic": "`realistic(run)`",
    "isolated": "`realistic(run)`, process-isolated",
    "command": "command `true`",
}


def target_label(row: dict[str, Any]) -> str:
    label = TARGETS.get(row.get("target", "noop"), str(row.get("target")))
    return label + (", embedded API" if row.get("declare") == "embedded" else "")


def targets(part: dict[str, Any], aps: str) -> list[str]:
    settings = part.get("settings", {})
    window = f"{settings.get('seconds', '?'):g} s windows after {settings.get('warmup', '?'):g} s"
    lines = [
        "## What the job runs: targets",
        "",
        "N interval jobs every second running each target; "
        f"{window} of warm-up, one fresh process per run, medians over the runs. Lateness is "
        "taken in the job's body (when the user's code starts) for `realistic(run)` (reads "
        "`run.scheduled_for`, logs one line with `run.logger`, prints one line) and its "
        "process-isolated form (the child's body writes its start time to a file); for `noop()` "
        "and the command `true`, which have no body to measure in, it is the store's started_at "
        "(taken just before the call or the program's start). store p99: the store's started_at "
        "for the same runs. Jobs are declared in the TOML the scheduler loads, or added through "
        "the embedded API (`gnomon.Scheduler.add_jobs`, after `start()`; that scheduler runs "
        "as in an application, without `gnomon scheduler`'s garbage-collector tuning and "
        "forkserver preload). CPU µs/fire: the "
        "scheduler process's CPU time in the window per fire; with children: also the command "
        "processes and the forkserver's process-isolated children. APScheduler's job has the "
        "same body (its own logger and print); APScheduler 3 has no command jobs and no process "
        "per run, so those cells are gnomon's only. p99 ×: over APScheduler's memory store's p99 "
        "with the same jobs, phases and body, in the same run.",
        "",
    ]
    rows = []
    for r in part["rows"]:
        rows.append(
            [
                f"{r['jobs']:,}",
                r["mode"],
                target_label(r),
                ENGINES.get(r["engine"], r["engine"]).format(aps=aps),
                f"{num(r['fires_per_s'])} of {r['jobs']:,}",
                num(r["p50_ms"]),
                num(r["p99_ms"]),
                num(r.get("max_ms")),
                "–" if r.get("missed") is None else not_started(r),
                num(r.get("store_p99_ms")),
                num(r.get("cpu_us_per_fire")),
                num(r.get("tree_cpu_us_per_fire")),
                num(r.get("p99_vs_aps_memory")),
                str(r.get("repeats", "?")),
            ]
        )
    header = ["jobs", "phases", "target", "engine", "fires/s of expected", "p50 ms", "p99 ms"]
    header += ["max ms", "missed", "store p99 ms", "CPU µs/fire", "with children", "p99 ×"]
    lines += table([*header, "runs"], rows)
    added = [r for r in part["rows"] if r.get("add_s") is not None]
    if added:
        lines += [
            "",
            "Adding the jobs through the embedded API (one `add_jobs` call, scheduler running): "
            + "; ".join(
                f"{r['jobs']:,} jobs ({r['mode']}) on {ENGINES[r['engine']].format(aps=aps)} "
                f"in {r['add_s']:g} s"
                for r in added
            )
            + ".",
        ]
    return [*lines, ""]


def not_started(row: dict[str, Any]) -> str:
    """Missed or skipped fires, then those coalesced or still queued at the end, if any."""
    others = [f"{count(row.get(k))} {k}" for k in ("coalesced", "unstarted") if row.get(k)]
    return count(row["missed"]) + (f" (+ {', '.join(others)})" if others else "")


def api(part: dict[str, Any]) -> list[str]:
    settings = part.get("settings", {})
    lines = [
        "## API latency",
        "",
        f"{part.get('server', '')}; gnomon on SQLite with a bearer token, Flask-APScheduler (FAS) "
        f"on its memory store without authentication. Medians of {settings.get('repeats', 1)} "
        f"measurements of at most {settings.get('requests')} requests or "
        f"{settings.get('max_seconds', '?'):g} s each; × is gnomon's req/s over FAS's.",
        "",
    ]
    cells = {(r["target"], r["jobs"], r["endpoint"], r["concurrency"]): r for r in part["rows"]}
    keys = sorted(
        {(j, e, c) for _t, j, e, c in cells},
        key=lambda k: (k[0], list(ENDPOINTS).index(k[1]), k[2]),
    )
    rows = []
    for jobs, endpoint, concurrency in keys:
        ours = cells.get(("gnomon", jobs, endpoint, concurrency), {})
        theirs = cells.get(("flask-apscheduler", jobs, endpoint, concurrency), {})
        rows.append(
            [
                f"{jobs:,}",
                ENDPOINTS.get(endpoint, endpoint),
                str(concurrency),
                num(ours.get("p50_ms")),
                num(ours.get("p99_ms")),
                num(ours.get("rps")),
                count(ours.get("errors")),
                num(theirs.get("p50_ms")),
                num(theirs.get("p99_ms")),
                num(theirs.get("rps")),
                num(ours.get("rps_vs_flask_apscheduler")),
            ]
        )
    header = ["jobs", "request", "clients", "gnomon p50 ms", "p99 ms", "req/s", "errors"]
    header += ["FAS p50 ms", "p99 ms", "req/s", "req/s ×"]
    return [*lines, *table(header, rows), ""]


def felt_cell(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("median_ms") is None:
        return "–"
    return f"{num(figure['median_ms'])} ms (p90 {num(figure['p90_ms'])}, n = {figure['n']})"


def pause_cell(figure: dict[str, Any] | None) -> str:
    if not figure or not figure.get("n"):
        return "–"
    fired = sum(1 for value in figure["samples_ms"] if value > 0)
    return f"fired after the pause {fired} of {figure['n']} times"


def felt(part: dict[str, Any]) -> list[str]:
    settings = {"single_node_sqlite": part.get("single_node_sqlite")}
    settings["across_nodes_postgres"] = part.get("across_nodes_postgres")
    rows = [
        [label, *(felt_cell((s or {}).get(key)) for s in settings.values())]
        for key, label in FELT.items()
    ]
    pause = [pause_cell((s or {}).get("pause_response_to_last_fire")) for s in settings.values()]
    rows.append(["pause (response) → no further fire", *pause])
    header = ["felt latency", "single node, SQLite", "two nodes, PostgreSQL, asked the non-leader"]
    note = "Medians over n samples; negative: the run started before the response arrived."
    lines = ["## Latencies users feel", "", note, "", *table(header, rows)]
    failures = [f for s in settings.values() if s for f in s.get("failures", [])]
    if failures:
        lines += ["", f"Failed requests during the measurement: {len(failures)}."]
    return [*lines, ""]


def startup(part: dict[str, Any]) -> list[str]:
    rows = [
        [f"{r['jobs']:,}", num(r["first_fire_s"]), num(r["peak_rss_mb"]), str(r["repeats"])]
        for r in part["rows"]
    ]
    lines = [
        "## Start-up",
        "",
        "A `gnomon scheduler` process on SQLite, medians over the runs.",
        "",
    ]
    header = ["jobs", "process start → first fire, s", "peak RSS MB", "runs"]
    return [*lines, *table(header, rows), ""]


def goals(results: dict[str, Any]) -> list[str]:
    verdicts = {True: "met", False: "**missed**", None: "–"}
    rows = [[g["target"], g["measured"], verdicts[g["met"]]] for g in judge(results)]
    lines = ["## Targets", "", "Judged from the figures above (gnomon on SQLite unless named).", ""]
    return [*lines, *table(["target", "measured", "verdict"], rows), ""]


def render(results: dict[str, Any]) -> str:
    """The whole Markdown report; parts missing from the run are left out."""
    aps = results.get("versions", {}).get("APScheduler", "3")
    lines = heading(results)
    if results.get("firing"):
        lines += firing(results["firing"], aps)
    if results.get("targets"):
        lines += targets(results["targets"], aps)
    if results.get("api_latency"):
        lines += api(results["api_latency"])
    if results.get("felt_latency"):
        lines += felt(results["felt_latency"])
    if results.get("startup"):
        lines += startup(results["startup"])
    lines += goals(results)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=BENCH_DIR / "results" / "all.json")
    parser.add_argument(
        "--out", help="where to write the Markdown (default: next to the JSON; - for stdout)"
    )
    args = parser.parse_args()
    text = render(json.loads(args.source.read_text()))
    if args.out == "-":
        print(text)
        return
    out = Path(args.out) if args.out else args.source.with_suffix(".md")
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
