"""Run statistics and pages of runs across jobs on a store holding a million runs."""

#   python bench/stats.py --backends sqlite postgres --runs 1000000 --days 30 --calls 50
#
# Fills a fresh store (SQLite file, or the PostgreSQL database of --pg-url, dropped and made
# again) with --runs run records of --jobs jobs, queued at random over the last --days days
# (30: the default retention of gnomon.prune_runs), then times the calls behind
# GET /api/v1/scheduler/stats and GET /api/v1/scheduler/runs: RunService.run_stats and
# RunService.list_all_runs, in process, each --calls times after one untimed warm-up call.
# Statuses are mostly `succeeded` (see STATUSES), durations log-normal around each job's own
# median, 3 % of runs manual, spread over three nodes; a few runs are still queued or running.
# The fill uses the drivers directly (executemany in one SQLite transaction, COPY on
# PostgreSQL) and then ANALYZE (and VACUUM on PostgreSQL, as autovacuum would in time).
# Prints one JSON object (and writes it to --out): per backend, the fill time, the store size
# and each call's p50/p99/max in ms.

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from firing import reset_postgres  # noqa: E402
from servers import percentile, rounded  # noqa: E402

PG_URL = os.environ.get(
    "GNOMON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench_stats"
)
#: Share of runs per final status (the rest of 1.0 is succeeded).
STATUSES = {
    "failed": 0.02,
    "missed": 0.01,
    "skipped": 0.005,
    "interrupted": 0.002,
    "timed_out": 0.002,
    "cancelled": 0.001,
}
NODES = ["node-1", "node-2", "node-3"]
COLUMNS = (
    "id", "job_id", "trigger_source", "status", "scheduled_for", "last_scheduled_for",
    "fire_count", "created_by", "queued_at", "started_at", "finished_at", "duration_ms",
    "reason", "error_type", "error_message", "traceback", "output", "exit_code", "node",
    "manual_job_id", "cancel_requested", "lease_token",
)  # fmt: skip


def run_rows(count: int, jobs: int, days: float, now: datetime, seed: int) -> Iterator[tuple]:
    """`count` runs as row tuples (COLUMNS order, aware datetimes), oldest first."""
    rng = random.Random(seed)
    job_ids = [f"job-{i:03d}" for i in range(jobs)]
    weights = [1 / (i + 1) for i in range(jobs)]  # a few busy jobs, many quiet ones
    medians = {job_id: 50 * 2 ** rng.uniform(0, 10) for job_id in job_ids}
    span = days * 86400
    offsets = sorted(rng.uniform(0, span) for _ in range(count))
    picks = rng.choices(job_ids, weights, k=count)
    statuses = list(STATUSES)
    shares = list(STATUSES.values())
    for index, (offset, job_id) in enumerate(zip(offsets, picks, strict=True)):
        queued_at = now - timedelta(seconds=span - offset)
        manual = rng.random() < 0.03
        status = "succeeded"
        draw = rng.random()
        for name, share in zip(statuses, shares, strict=True):
            if draw < share:
                status = name
                break
            draw -= share
        if index >= count - 3:
            status = "running" if index < count - 1 else "queued"
        ran = status not in ("missed", "skipped", "queued")
        duration = int(rng.lognormvariate(math.log(medians[job_id]), 0.5)) if ran else None
        started = queued_at + timedelta(milliseconds=rng.randint(1, 50)) if ran else None
        finished = (
            started + timedelta(milliseconds=duration)
            if started is not None and duration is not None and status != "running"
            else None
        )
        if status == "running":
            duration = None
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            job_id,
            "manual" if manual else "scheduled",
            status,
            None if manual else queued_at,
            None if manual else queued_at,
            1,
            1 if manual else None,
            queued_at,
            started,
            finished,
            duration,
            "scheduler_down" if status == "missed" else None,
            "RuntimeError" if status == "failed" else None,
            "the report source did not answer" if status == "failed" else None,
            None,
            f"processed {rng.randint(1, 10_000)} items\n" if ran else None,
            (1 if status == "failed" else 0) if finished else None,
            rng.choice(NODES) if ran else None,
            f"manual-{index}" if manual else None,
            False,
            None,
        )


def fill_sqlite(path: Path, rows: Iterator[tuple]) -> None:
    import sqlite3

    def text(value: Any) -> Any:
        if isinstance(value, datetime):  # as UtcDateTime stores it on SQLite
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        marks = ", ".join("?" * len(COLUMNS))
        insert = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({marks})"
        batch: list[tuple] = []
        for row in rows:
            batch.append(tuple(text(value) for value in row))
            if len(batch) == 10_000:
                conn.executemany(insert, batch)
                batch.clear()
        conn.executemany(insert, batch)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def fill_postgres(url: str, rows: Iterator[tuple]) -> None:
    import psycopg

    copy_sql = f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE runs")


def store_size_mb(backend: str, url: str, path: Path | None) -> float:
    if backend == "sqlite":
        assert path is not None
        return round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1)
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        (size,) = conn.execute("SELECT pg_total_relation_size('runs')").fetchone()  # type: ignore[misc]
    return round(size / 2**20, 1)


def timed(call: Callable[[], Any], calls: int) -> dict[str, Any]:
    call()  # warm-up: caches, compiled statements, connections
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "calls": calls,
        "p50_ms": rounded(percentile(samples, 0.50)),
        "p99_ms": rounded(percentile(samples, 0.99)),
        "max_ms": rounded(max(samples)),
    }


def measure(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from gnomon.domain import RunStatus, TriggerSource
    from gnomon.services.runs import RunService
    from gnomon.store.sql import SqlStore

    path = None
    if backend == "sqlite":
        path = workdir / "gnomon.db"
        url = f"sqlite:///{path}"
    else:
        url = args.pg_url
        reset_postgres(url)
    store = SqlStore(url)
    store.upgrade()
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = run_rows(args.runs, args.jobs, args.days, now, args.seed)
    if path is not None:
        fill_sqlite(path, rows)
    else:
        fill_postgres(url, rows)
    fill_s = time.perf_counter() - started
    service = RunService(store, clock=lambda: now)
    week = now - timedelta(days=7)
    calls: dict[str, Callable[[], Any]] = {
        "stats_24h": lambda: service.run_stats(),
        "stats_7d": lambda: service.run_stats(since=week),
        "stats_30d": lambda: service.run_stats(since=now - timedelta(days=30)),
        "stats_24h_one_job": lambda: service.run_stats(job_id="job-000"),
        "runs_page": lambda: service.list_all_runs(),
        "runs_page_failed_missed": lambda: service.list_all_runs(
            statuses=(RunStatus.FAILED, RunStatus.MISSED, RunStatus.INTERRUPTED)
        ),
        "runs_page_running": lambda: service.list_all_runs(statuses=(RunStatus.RUNNING,)),
        "runs_page_one_job": lambda: service.list_all_runs(job_id="job-040"),
        "runs_page_manual": lambda: service.list_all_runs(trigger_source=TriggerSource.MANUAL),
        "runs_page_node": lambda: service.list_all_runs(node="node-2"),
        "runs_page_last_day_failed": lambda: service.list_all_runs(
            statuses=(RunStatus.FAILED,), since=now - timedelta(days=1)
        ),
    }
    result: dict[str, Any] = {
        "backend": backend,
        "runs": args.runs,
        "jobs": args.jobs,
        "days": args.days,
        "fill_s": round(fill_s, 1),
        "store_mb": store_size_mb(backend, url, path),
    }
    try:
        # A store upgraded to 0007 has no hour sealed: the first statistics read seals for
        # SEAL_BUDGET_S and counts the rest from the runs; sealing the rest is timed apart.
        started = time.perf_counter()
        service.run_stats()
        result["first_stats_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        store.seal_hours(budget_s=3600)
        result["sealing_rest_s"] = round(time.perf_counter() - started, 2)
        for name, call in calls.items():
            result[name] = timed(call, args.calls)
            print(json.dumps({backend: {name: result[name]}}), file=sys.stderr, flush=True)
    finally:
        store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="gnomon-bench-stats-") as workdir:
        for backend in args.backends:
            results.append(measure(backend, args, Path(workdir)))
    if args.backends.count("postgres"):
        reset_postgres(args.pg_url)  # a million rows are not left behind
    report = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "results": results}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
