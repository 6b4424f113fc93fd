"""Felt latency over HTTP: run requested → started, pause → effective, and the same across nodes."""

#   python bench/felt_latency.py --samples 30 --pause-samples 5
#
# Single node: `gnomon serve` (1 worker) on SQLite. `run`: POST …/actions/run on a job whose command
# is `true`, then GET /runs/{run_id} until it has started; the sample is the run's started_at minus
# the client's clock when the POST's response arrived (negative: it started before the response
# came back), and started_at − queued_at. `pause`: a job firing every whole second is paused
# half-way between two fires; the sample is its last scheduled fire minus the client's clock at the
# pause response (negative: nothing fired after the pause). Across nodes: two `gnomon serve`
# processes on one PostgreSQL database (created and dropped, polling every 5 s so only
# LISTEN/NOTIFY can be quick); run and pause are requested on the process that does not hold the
# lease, and act on the leader. Prints one JSON object.

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from cputime import children  # noqa: E402
from servers import (  # noqa: E402
    API,
    Server,
    gnomon_serve,
    login,
    percentile,
    rounded,
    wait_for,
    write_gnomon_config,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
JOBS = f"{API}/scheduler/jobs"


def job_blocks(tickers: int) -> list[str]:
    blocks = [
        # Only run when asked: an hourly job from 2099 never fires by itself.
        '[[jobs]]\nid = "manual"\ncommand = ["true"]\nmax_instances = 1000\n'
        'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }\n'
    ]
    blocks += [
        f'[[jobs]]\nid = "tick{index:02d}"\ntarget = "targets:noop"\n'
        'trigger = { type = "interval", seconds = 1 }\n'  # fires: paused between fires
        for index in range(tickers)
    ]
    return blocks


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def summary(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "median_ms": rounded(statistics.median(ms)) if ms else None,
        "p90_ms": rounded(percentile(ms, 0.90)),
        "max_ms": rounded(max(ms)) if ms else None,
        "samples_ms": [round(v, 1) for v in ms],
    }


def answer(response: requests.Response, failures: list[str]) -> Any | None:
    """The envelope's data, or None with the failure noted (a benchmark records, not crashes)."""
    if response.status_code == 200:
        return response.json()["data"]
    try:
        code = response.json().get("message_code")
    except ValueError:
        code = None
    failures.append(f"{response.request.method} {response.status_code} {code}")
    return None


def run_samples(http: requests.Session, base: str, samples: int) -> dict[str, Any]:
    """Request a manual run `samples` times; time to its start from the response and queueing."""
    after_response: list[float] = []
    after_queued: list[float] = []
    nodes: set[str] = set()
    failures: list[str] = []
    for _ in range(2 * samples):  # a failed attempt is noted and retried, at most `samples` times
        if len(after_response) == samples:
            break
        requested = answer(http.post(f"{base}{JOBS}/manual/actions/run", timeout=30), failures)
        answered = datetime.now(UTC)
        if requested is None:
            continue
        run_id = requested["run_id"]

        def started(run_id: str = run_id) -> dict[str, Any] | None:
            response = http.get(f"{base}{API}/scheduler/runs/{run_id}", timeout=30)
            run: dict[str, Any] | None = answer(response, failures)
            return run if run and run["started_at"] else None

        try:
            run = wait_for(started, timeout=15, what=f"run {run_id} to start", every=0.005)
        except TimeoutError as exc:
            failures.append(str(exc))
            continue
        begun = when(run["started_at"])
        queued = when(run["queued_at"])
        assert begun is not None and queued is not None
        after_response.append((begun - answered).total_seconds())
        after_queued.append((begun - queued).total_seconds())
        nodes.add(str(run["node"]))
        time.sleep(0.05)
    return {
        "response_to_started": summary(after_response),
        "queued_to_started": summary(after_queued),
        "nodes": sorted(nodes),
        "failures": failures,
    }


def pause_samples(http: requests.Session, base: str, samples: int) -> dict[str, Any]:
    """Pause each ticker half-way between fires; its last fire minus the pause response."""
    values: list[float] = []
    failures: list[str] = []
    for index in range(samples):
        job = f"tick{index:02d}"
        time.sleep(1.5 - (time.time() % 1.0))
        paused = answer(http.post(f"{base}{JOBS}/{job}/actions/pause", timeout=30), failures)
        answered = datetime.now(UTC)
        if paused is None:
            continue
        time.sleep(2.5)
        query = {"trigger_source": "scheduled", "limit": 20}
        page = answer(http.get(f"{base}{JOBS}/{job}/runs", params=query, timeout=30), failures)
        fired = [
            when(r["last_scheduled_for"] or r["scheduled_for"])
            for r in (page or {}).get("items", [])
            if r["status"] not in ("missed", "skipped")  # recorded, but never ran
        ]
        known = [f for f in fired if f is not None]
        if not known:
            failures.append(f"{job}: no scheduled fire recorded")
            continue
        values.append((max(known) - answered).total_seconds())
    return {**summary(values), "failures": failures}


def single_node(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-felt-"))
    config = write_gnomon_config(
        workdir / "gnomon.toml", f"sqlite:///{workdir / 'g.db'}", job_blocks(args.pause_samples)
    )
    server = gnomon_serve(config, workdir / "serve.log").wait_ready()
    try:
        http = login(server.url)
        time.sleep(2)  # let the tickers settle into their rhythm
        result = run_samples(http, server.url, args.samples)
        result["pause_response_to_last_fire"] = pause_samples(http, server.url, args.pause_samples)
    finally:
        server.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with its log, after a failure
    return result


def pg_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return list(conn.execute(sql.encode()).fetchall())


def leader(url: str) -> tuple[str, int] | None:
    rows = pg_query(
        url,
        "SELECT l.holder, n.pid FROM leases l JOIN nodes n ON n.id = l.holder"
        " WHERE l.name = 'scheduler' AND l.expires_at > now()",
    )
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


def across_nodes(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    name = args.pg_database
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    url = PG_ADMIN.rpartition("/")[0] + f"/{name}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-felt-pg-"))
    # Polling every 5 s: a start within a second can only come from LISTEN/NOTIFY.
    config = write_gnomon_config(
        workdir / "gnomon.toml",
        url.replace("postgresql://", "postgresql+psycopg://"),
        job_blocks(args.pause_samples),
        poll_interval=5.0,
    )
    servers: list[Server] = []
    try:
        # One after the other: two first starts on an empty store race to create the admin.
        servers.append(gnomon_serve(config, workdir / "a.log").wait_ready())
        holder, pid = wait_for(lambda: leader(url), timeout=60, what="a leader", every=0.2)
        servers.append(gnomon_serve(config, workdir / "b.log").wait_ready())
        follower = next(s for s in servers if pid not in children(s.proc.pid))
        http = login(follower.url)
        result = run_samples(http, follower.url, args.samples)
        result["pause_response_to_last_fire"] = pause_samples(
            http, follower.url, args.pause_samples
        )
        result["leader"] = holder
        result["requested_on_non_leader"] = pid not in children(follower.proc.pid)
        result["all_started_on_leader"] = result["nodes"] == [holder]
    finally:
        for server in servers:
            server.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="manual runs per setting")
    parser.add_argument("--pause-samples", type=int, default=5)
    parser.add_argument("--pg-database", default="gnomon_bench_felt")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "felt_latency.json")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "single_node_sqlite": single_node(args),
        "across_nodes_postgres": None if args.skip_pg else across_nodes(args),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
