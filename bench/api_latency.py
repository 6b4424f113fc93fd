"""API latency and throughput: gnomon serve vs Flask-APScheduler's REST API over real HTTP."""

#   python bench/api_latency.py --jobs 10 1000 10000 --repeats 3 --requests 300 --max-seconds 4
#
# Both servers run on gunicorn, 1 worker, gthread with 4 threads, on 127.0.0.1, serving N hourly
# jobs (none fires during the measurement); PUT/PATCH of a trigger goes to job i mod N for the
# i-th request, so concurrent writers rarely touch one job (gnomon answers 409 JOB_CHANGED to a
# lost race; errors are counted, and included in requests/s). gnomon: SQLite store, bearer token.
# Flask-APScheduler: memory job store, no auth (its API has none by default). Both servers are
# started once per job count and measured in turn, cell by cell, so drift on a shared machine
# falls on both alike; after each measurement the server is left to finish what it started
# (runs, schedule reloads) until it is idle, so that work does not land on the next one. A cell
# (endpoint, concurrency) is --repeats measurements, each of at most --requests requests for at
# most --max-seconds from client threads (one requests.Session each); its p50/p99 latency (ms)
# and requests/s are the medians across repeats, the measurements are listed under `samples`.
# Prints one JSON object, with the ratio gnomon/Flask-APScheduler of requests/s per cell.

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from servers import (  # noqa: E402
    API,
    Server,
    bearer_token,
    gnomon_serve,
    percentile,
    rounded,
    wait_quiet,
    write_gnomon_config,
)

ENDPOINTS = ["list", "get", "put_trigger", "run"]
Request = tuple[str, Callable[[int], str], Callable[[int], Any]]


def job_ids(count: int) -> list[str]:
    return [f"j{index:05d}" for index in range(count)]


def gnomon_requests(count: int) -> dict[str, Request]:
    jobs = f"{API}/scheduler/jobs"
    ids = job_ids(count)
    return {
        "list": ("GET", lambda _i: jobs, lambda _i: None),
        "get": ("GET", lambda _i: f"{jobs}/{ids[count // 2]}", lambda _i: None),
        "put_trigger": (
            "PUT",
            lambda i: f"{jobs}/{ids[i % count]}",
            lambda i: {"trigger_type": "interval", "hours": 1 + i % 2},
        ),
        "run": ("POST", lambda _i: f"{jobs}/{ids[0]}/actions/run", lambda _i: None),
    }


def fas_requests(count: int) -> dict[str, Request]:
    jobs = "/scheduler/jobs"
    ids = job_ids(count)
    return {
        "list": ("GET", lambda _i: jobs, lambda _i: None),
        "get": ("GET", lambda _i: f"{jobs}/{ids[count // 2]}", lambda _i: None),
        "put_trigger": (
            "PATCH",
            lambda i: f"{jobs}/{ids[i % count]}",
            lambda i: {"trigger": "interval", "hours": 1 + i % 2},
        ),
        "run": ("POST", lambda _i: f"{jobs}/{ids[0]}/run", lambda _i: None),
    }


def start_gnomon(count: int, workdir: Path) -> tuple[Server, dict[str, str]]:
    jobs = [
        f'[[jobs]]\nid = "{job}"\ncommand = ["true"]\nmax_instances = 1000\n'
        'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }\n'
        for job in job_ids(count)
    ]
    config = write_gnomon_config(workdir / "gnomon.toml", f"sqlite:///{workdir / 'g.db'}", jobs)
    server = gnomon_serve(config, workdir / "serve.log").wait_ready()
    return server, {"Authorization": f"Bearer {bearer_token(server.url)}"}


def start_fas(count: int, workdir: Path) -> tuple[Server, dict[str, str]]:
    argv = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread",
        "--threads", "4", "--bind", "127.0.0.1:{port}", "--chdir", str(BENCH_DIR),
        "--log-level", "warning", "fas_app:create_app()",
    ]  # fmt: skip
    server = Server(argv, workdir / "fas.log", "/scheduler", {"FAS_JOBS": str(count)})
    return server.wait_ready(), {}


def error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("message_code") or "")
    except ValueError:
        return ""


def load(
    base: str,
    headers: dict[str, str],
    request: Request,
    total: int,
    concurrency: int,
    max_seconds: float,
) -> dict[str, Any]:
    """At most `total` requests from `concurrency` threads, stopping after `max_seconds`."""
    method, path, body = request
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        with requests.Session() as http:
            http.headers.update(headers)
            while (index := next(counter)) < total and time.perf_counter() < deadline:
                started = time.perf_counter()
                response = http.request(method, base + path(index), json=body(index), timeout=60)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {error_code(response)}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "seconds": round(wall, 2),
        "rps": round(len(latencies) / wall, 1) if wall > 0 else None,
        "p50_ms": rounded(percentile(latencies, 0.50)),
        "p99_ms": rounded(percentile(latencies, 0.99)),
    }


def start_target(target: str, count: int, workdir: Path) -> tuple[Server, dict[str, str], float]:
    started = time.perf_counter()
    server, headers = (start_gnomon if target == "gnomon" else start_fas)(count, workdir)
    return server, headers, round(time.perf_counter() - started, 2)


def median_cell(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell from its repeats: medians of the figures, totals of the counts, every sample."""

    def median(key: str) -> float | None:
        values = [s[key] for s in samples if s[key] is not None]
        return rounded(statistics.median(values)) if values else None

    return {
        "repeats": len(samples),
        "requests": sum(s["requests"] for s in samples),
        "errors": sum(s["errors"] for s in samples),
        "error_statuses": sorted({e for s in samples for e in s["error_statuses"]}),
        "seconds": round(sum(s["seconds"] for s in samples), 2),
        "rps": median("rps"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "samples": [
            {k: s[k] for k in ("requests", "errors", "rps", "p50_ms", "p99_ms")} for s in samples
        ],
    }


def measure_count(count: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every target's cells with `count` jobs: servers started once, repeats interleaved."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    servers: dict[str, tuple[Server, dict[str, str], float]] = {}
    samples: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    try:
        for target in args.targets:
            servers[target] = start_target(target, count, workdir)
        plans = {
            t: (gnomon_requests if t == "gnomon" else fas_requests)(count) for t in args.targets
        }
        for _ in range(args.repeats):
            for endpoint in ENDPOINTS:
                for target, (server, headers, _ready) in servers.items():
                    load(
                        server.url,
                        headers,
                        plans[target][endpoint],
                        args.warmup,
                        1,
                        args.max_seconds,
                    )
                for concurrency in args.concurrency:
                    for target, (server, headers, _ready) in servers.items():
                        cell = load(
                            server.url,
                            headers,
                            plans[target][endpoint],
                            args.requests,
                            concurrency,
                            args.max_seconds,
                        )
                        samples.setdefault((target, endpoint, concurrency), []).append(cell)
                        wait_quiet(server.proc.pid)  # so the next cell is not measured amid it
    finally:
        for server, _headers, _ready in servers.values():
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with the logs, after a failure
    rows = []
    for (target, endpoint, concurrency), cells in samples.items():
        row = {"target": target, "jobs": count, "endpoint": endpoint, "concurrency": concurrency}
        row.update(ready_s=servers[target][2], **median_cell(cells))
        rows.append(row)
    rows.sort(key=lambda r: args.targets.index(r["target"]))  # stable: endpoints stay in order
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "samples"}), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", nargs="+", type=int, default=[10, 1000, 10000])
    parser.add_argument("--targets", nargs="+", default=["gnomon", "flask-apscheduler"])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--requests", type=int, default=300, help="per measurement, at most")
    parser.add_argument("--max-seconds", type=float, default=4, help="per measurement, at most")
    parser.add_argument("--warmup", type=int, default=5, help="requests before each endpoint")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cell (median)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "api_latency.json")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    for count in args.jobs:
        rows.extend(measure_count(count, args))
    base = {
        (r["jobs"], r["endpoint"], r["concurrency"]): r
        for r in rows
        if r["target"] == "flask-apscheduler"
    }
    for row in rows:
        other = base.get((row["jobs"], row["endpoint"], row["concurrency"]))
        if row["target"] == "gnomon" and other and other["rps"] and row["rps"]:
            row["rps_vs_flask_apscheduler"] = round(row["rps"] / other["rps"], 3)
    headline = [
        r
        for r in rows
        if r["target"] == "gnomon" and r["endpoint"] == "list" and "rps_vs_flask_apscheduler" in r
    ]
    result = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "server": "gunicorn, 1 worker, gthread, 4 threads (both targets)",
        "settings": {
            "requests": args.requests,
            "max_seconds": args.max_seconds,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
        },
        "rows": rows,
        "list_rps_ratio": {
            f"{r['jobs']}@c{r['concurrency']}": r["rps_vs_flask_apscheduler"] for r in headline
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    header = f"{'target':<18}{'jobs':>6} {'endpoint':<12}{'conc':>5}{'req':>6}{'err':>5}"
    print(header + f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'rps ×fas':>9}", file=sys.stderr)
    for r in rows:
        print(
            f"{r['target']:<18}{r['jobs']:>6} {r['endpoint']:<12}{r['concurrency']:>5}"
            f"{r['requests']:>6}{r['errors']:>5}{r['rps']!s:>9}{r['p50_ms']!s:>9}"
            f"{r['p99_ms']!s:>9}{r.get('rps_vs_flask_apscheduler', '-')!s:>9}",
            file=sys.stderr,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
