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


def target_row(
    results: Results, engine: str, jobs: int, mode: str, target: str, declare: str | None = "toml"
) -> dict[str, Any] | None:
    """A row of the targets part (declare None: APScheduler's)."""
    rows = (results.get("targets") or {}).get("rows", [])
    key = (engine, jobs, mode, target, declare)
    return next(
        (
            r
            for r in rows
            if (r["engine"], r["jobs"], r["mode"], r["target"], r.get("declare")) == key
        ),
        None,
    )


def every_fire(row: dict[str, Any]) -> bool:
    """Every fire time in the window started: none missed, skipped, coalesced or left queued."""
    stopped = sum(row.get(key) or 0 for key in ("missed", "coalesced", "unstarted"))
    return row["fires_per_s"] is not None and row["fires_per_s"] >= row["jobs"] and not stopped


def at_most(value: float | None, limit: float) -> bool:
    return value is not None and value == value and value <= limit


def body_text(row: dict[str, Any]) -> str:
    text = f"p99 {ms(row['p99_ms'])}, {row['fires_per_s']:,.0f} of {row['jobs']:,} fires/s"
    stopped = sum(row.get(key) or 0 for key in ("missed", "coalesced", "unstarted"))
    text += f", {stopped:g} not started" if row.get("missed") is not None else ""
    cpu = row.get("cpu_us_per_fire")
    return text if cpu is None else f"{text}, {cpu:g} µs CPU/fire"


def aligned_vs_apscheduler(results: Results) -> Verdict:
    ours = target_row(results, "gnomon-sqlite", 1000, "aligned", "realistic")
    theirs = target_row(results, "aps-memory", 1000, "aligned", "realistic", None)
    if ours is None or theirs is None:
        return "not measured", None
    text = f"SQLite: p99 {ms(ours['p99_ms'])}; APScheduler memory store: p99 {ms(theirs['p99_ms'])}"
    for engine, declare, label in (
        ("gnomon-sqlite", "embedded", "SQLite, embedded"),
        ("gnomon-postgres", "toml", "PostgreSQL"),
    ):
        other = target_row(results, engine, 1000, "aligned", "realistic", declare)
        if other is not None:
            text += f"; {label} (not judged): p99 {ms(other['p99_ms'])}"
    return text, at_most(ours["p99_ms"], theirs["p99_ms"])


def every_fire_within(
    jobs: int, target: str, limit: float, *, declare: str = "toml", cpu_us: float | None = None
) -> Callable[[Results], Verdict]:
    """gnomon on SQLite, phases spread, judged; PostgreSQL shown beside it when measured."""

    def check(results: Results) -> Verdict:
        row = target_row(results, "gnomon-sqlite", jobs, "spread", target, declare)
        if row is None:
            return "not measured", None
        text = f"SQLite: {body_text(row)}"
        other = target_row(results, "gnomon-postgres", jobs, "spread", target, declare)
        if other is not None:
            text += f"; PostgreSQL (not judged): {body_text(other)}"
        met = every_fire(row) and at_most(row["p99_ms"], limit)
        if cpu_us is not None:
            met = met and at_most(row.get("cpu_us_per_fire"), cpu_us)
        return text, met

    return check


def postgres_each_run(results: Results) -> Verdict:
    row = target_row(results, "gnomon-postgres", 10000, "spread", "realistic")
    if row is None:
        return "not measured", None
    samples = row.get("samples") or [row]
    text = "p99 per run: " + ", ".join(ms(s["p99_ms"]) for s in samples)
    text += f"; median {body_text(row)}"
    met = len(samples) >= 3 and all(
        every_fire({**s, "jobs": row["jobs"]}) and at_most(s["p99_ms"], 20) for s in samples
    )
    return text, met


def embedded_add(results: Results) -> Verdict:
    row = target_row(results, "gnomon-sqlite", 10000, "spread", "realistic", "embedded")
    if row is None or row.get("add_s") is None:
        return "not measured", None
    return f"{row['add_s']:g} s (one add_jobs call, SQLite)", at_most(row["add_s"], 2)


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
    Goal(
        "10,000 jobs, spread, `realistic(run)`, SQLite: every fire, p99 ≤ 20 ms, "
        "≤ 150 µs CPU per fire",
        every_fire_within(10000, "realistic", 20, cpu_us=150),
    ),
    Goal(
        "10,000 jobs, spread, `realistic(run)`, SQLite, embedded API: every fire, p99 ≤ 20 ms, "
        "≤ 150 µs CPU per fire",
        every_fire_within(10000, "realistic", 20, declare="embedded", cpu_us=150),
    ),
    Goal(
        "10,000 jobs, spread, `realistic(run)`, PostgreSQL: every fire, p99 ≤ 20 ms in each of "
        "3 runs",
        postgres_each_run,
    ),
    Goal(
        "1,000 jobs, aligned, `realistic(run)`: p99 ≤ APScheduler memory store's",
        aligned_vs_apscheduler,
    ),
    Goal(
        "1,000 command jobs (`true`), spread: every fire, p99 ≤ 50 ms",
        every_fire_within(1000, "command", 50),
    ),
    Goal(
        "100 process-isolated Python jobs, spread: every fire, p99 ≤ 50 ms",
        every_fire_within(100, "isolated", 50),
    ),
    Goal("embedded API: adding 10,000 jobs ≤ 2 s", embedded_add),
]


def judge(results: Results) -> list[dict[str, Any]]:
    """Each target with its measured figures and whether this run met it (None: not measured)."""
    judged = []
    for goal in GOALS:
        measured, met = goal.check(results)
        judged.append({"target": goal.target, "measured": measured, "met": met})
    return judged
