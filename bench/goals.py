"""The issue's performance targets, each judged met or missed from one run's combined JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Results = dict[str, Any]
# What a check returns: the measured figures as text, and met (True), missed (False) or not
# measured in this run (None).
Verdict = tuple[str, bool | None]


@dataclass(frozen=True)
class Goal:
    target: str
    check: Callable[[Results], Verdict]


def ms(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:g} ms"


def firing_row(results: Results, engine: str, jobs: int, mode: str) -> dict[str, Any] | None:
    rows = (results.get("firing") or {}).get("rows", [])
    return next(
        (r for r in rows if (r["engine"], r["jobs"], r["mode"]) == (engine, jobs, mode)), None
    )


def firing_text(row: dict[str, Any]) -> str:
    text = f"p99 {ms(row['p99_ms'])}, {row['fires_per_s']:,.0f} of {row['jobs']:,} fires/s"
    return text if row.get("missed") is None else f"{text}, {row['missed']:g} missed"


def p99_at_most(
    jobs: int, mode: str, limit: float, *, no_miss: bool, also: str | None = None
) -> Callable[[Results], Verdict]:
    """gnomon on SQLite judged; `also` (an engine) is shown beside it, not judged."""

    def check(results: Results) -> Verdict:
        row = firing_row(results, "gnomon-sqlite", jobs, mode)
        if row is None:
            return "not measured", None
        text = f"SQLite: {firing_text(row)}"
        other = firing_row(results, also, jobs, mode) if also else None
        if other is not None:
            text += f"; PostgreSQL (not judged): p99 {ms(other['p99_ms'])}"
        met = row["p99_ms"] is not None and row["p99_ms"] <= limit
        if no_miss:
            met = met and row["missed"] == 0 and row["fires_per_s"] >= jobs
        return text, met

    return check


def postgres_capacity(results: Results) -> Verdict:
    row = firing_row(results, "gnomon-postgres", 1000, "spread")
    if row is None:
        return "not measured", None
    met = row["fires_per_s"] >= 1000 and row["p99_ms"] is not None and row["p99_ms"] <= 20
    return firing_text(row), met


def api_cells(results: Results, jobs: int, endpoint: str) -> list[dict[str, Any]]:
    rows = (results.get("api_latency") or {}).get("rows", [])
    return [r for r in rows if r["jobs"] == jobs and r["endpoint"] == endpoint]


def list_jobs(results: Results) -> Verdict:
    cells = api_cells(results, 1000, "list")
    single = next((r for r in cells if r["target"] == "gnomon" and r["concurrency"] == 1), None)
    ratios = {
        r["concurrency"]: r["rps_vs_flask_apscheduler"]
        for r in cells
        if r["target"] == "gnomon" and "rps_vs_flask_apscheduler" in r
    }
    if single is None or not ratios:
        return "not measured", None
    text = f"p50 {ms(single['p50_ms'])} (1 client); req/s × Flask-APScheduler: " + ", ".join(
        f"{ratio:g} ({c} client{'s' * (c > 1)})" for c, ratio in sorted(ratios.items())
    )
    met = single["p50_ms"] is not None and single["p50_ms"] <= 20 and min(ratios.values()) >= 2
    return text, met


def get_job(results: Results) -> Verdict:
    rows = (results.get("api_latency") or {}).get("rows", [])
    cells = [
        r
        for r in rows
        if r["target"] == "gnomon" and r["endpoint"] == "get" and r["concurrency"] == 1
    ]
    if not cells:
        return "not measured", None
    text = "p50 (1 client) " + ", ".join(f"{ms(r['p50_ms'])} at {r['jobs']:,} jobs" for r in cells)
    return text, all(r["p50_ms"] is not None and r["p50_ms"] <= 3 for r in cells)


def run_started(setting: str, limit: float) -> Callable[[Results], Verdict]:
    def check(results: Results) -> Verdict:
        part = (results.get("felt_latency") or {}).get(setting)
        if not part:
            return "not measured", None
        figure = part["response_to_started"]
        median = figure["median_ms"]
        text = f"median {ms(median)} of {figure['n']}"
        return text, median is not None and median <= limit

    return check


def startup(results: Results) -> Verdict:
    rows = (results.get("startup") or {}).get("rows", [])
    row = next((r for r in rows if r["jobs"] == 10000), None)
    if row is None:
        return "not measured", None
    text = f"{row['first_fire_s']:g} s to first fire, peak RSS {row['peak_rss_mb']:g} MB"
    return text, row["first_fire_s"] <= 2 and row["peak_rss_mb"] <= 200


GOALS = [
    Goal(
        "10,000 jobs, phases spread, SQLite: p99 ≤ 10 ms, 0 missed",
        p99_at_most(10000, "spread", 10, no_miss=True),
    ),
    Goal(
        "1,000 jobs, phases aligned: p99 ≤ 50 ms",
        p99_at_most(1000, "aligned", 50, no_miss=False, also="gnomon-postgres"),
    ),
    Goal(
        "10,000 jobs, phases aligned: p99 ≤ 500 ms, 0 missed",
        p99_at_most(10000, "aligned", 500, no_miss=True),
    ),
    Goal("1,000 jobs, PostgreSQL, spread: 1,000 fires/s, p99 ≤ 20 ms", postgres_capacity),
    Goal("`GET /jobs`, 1,000 jobs: p50 ≤ 20 ms, ≥ 2× Flask-APScheduler's req/s", list_jobs),
    Goal("`GET /jobs/{id}`: p50 ≤ 3 ms", get_job),
    Goal(
        "run requested → started, single node: p50 ≤ 20 ms",
        run_started("single_node_sqlite", 20),
    ),
    Goal(
        "run requested → started, across nodes: p50 ≤ 250 ms",
        run_started("across_nodes_postgres", 250),
    ),
    Goal("start-up, 10,000 jobs: ≤ 2 s to first fire, peak RSS ≤ 200 MB", startup),
]


def judge(results: Results) -> list[dict[str, Any]]:
    """Each target with its measured figures and whether this run met it (None: not measured)."""
    judged = []
    for goal in GOALS:
        measured, met = goal.check(results)
        judged.append({"target": goal.target, "measured": measured, "met": met})
    return judged
