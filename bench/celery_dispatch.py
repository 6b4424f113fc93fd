"""Execution through Celery next to local execution, measured in the same run.

    python bench/celery_dispatch.py --jobs 100 --seconds 10 --concurrency 8
    python bench/celery_dispatch.py --jobs 200 --seconds 30 --workers 2

N interval jobs fire every second (phases spread over the second, or `--mode aligned`), fired by
one `gnomon scheduler` process on PostgreSQL (GNOMON_BENCH_PG_URL's database, dropped and made
again for each executor) and executed: `local` in the scheduler's own pool; `celery-redis` and
`celery-rabbitmq` by `--workers` `gnomon worker` processes (`--concurrency` threads each) the
scheduler sends them to through the machine's Redis or RabbitMQ. With W workers the jobs are
routed in turn to W queues, and every worker consumes all of them. After a warm-up, runs whose
fire time falls in a window of `--seconds` are read from the store: fires/s executed
(succeeded), fires recorded more than once (duplicates) or not at all (lost), and fire → started
latency (the store's started_at − scheduled_for: for Celery, the leader's send, the broker, the
worker's consumer and its guarded start) p50/p99/max in ms. Prints one JSON object per executor
and a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from firing import PG_URL, gnomon_config, percentile, reset_postgres  # noqa: E402

BROKERS = {
    "celery-redis": "redis://127.0.0.1:6379/12",
    "celery-rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
WARM_UP = 3.0  # seconds between the worker's first run and the window's first fire time


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def write_config(
    directory: Path, executor: str, args: argparse.Namespace, queues: list[str]
) -> Path:
    """The jobs, routed in turn to `queues` when they execute on Celery."""
    config = directory / "gnomon.toml"
    base = datetime.now(UTC).replace(microsecond=0)
    gnomon_config(config, args.jobs, args.mode, base, PG_URL)
    text = config.read_text()
    if executor != "local":
        text = text.replace('timezone = "UTC"\n', 'timezone = "UTC"\nexecutor = "celery"\n', 1)
        routed = itertools.cycle(queues)
        text = "".join(
            f'{line}queue = "{next(routed)}"\n' if line == 'target = "targets:noop"\n' else line
            for line in text.splitlines(keepends=True)
        )
        text += f'\n[celery]\nbroker_url = "{BROKERS[executor]}"\n'
    config.write_text(text)
    return config


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GNOMON_ADMIN_PASSWORD": "bench-admin-password"}
    env.pop("GNOMON_CONFIG", None)
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count(sql: str, *params: Any) -> int:
    rows = query(sql, *params)
    return int(rows[0][0]) if rows else 0


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(libpq(PG_URL)) as conn:
            return list(conn.execute(sql, params))
    except psycopg.Error:
        return []  # not migrated yet


def measure(executor: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    reset_postgres(PG_URL)
    tag = uuid.uuid4().hex[:8]
    queues = [f"gnomon_bench_{tag}_{i}" for i in range(args.workers)]
    config = write_config(directory, executor, args, queues)
    gnomon = [sys.executable, "-m", "gnomon"]
    scheduler = start(
        [*gnomon, "scheduler", "--config", str(config), "--log-level", "warning"],
        directory / f"{executor}-scheduler.log",
    )
    workers = []
    try:
        wait_for(lambda: count("SELECT count(*) FROM jobs") > 0, 60, "the jobs")
        if executor != "local":
            options = ["--queues", ",".join(queues), "--concurrency", str(args.concurrency)]
            for i in range(args.workers):
                argv = [*gnomon, "worker", "--config", str(config), *options]
                log = directory / f"{executor}-worker{i}.log"
                workers.append(start([*argv, "--log-level", "warning"], log))
            # Consuming, not only registered: Celery's consumer connects after the node beats.
            done = "SELECT count(DISTINCT node) FROM runs WHERE status = 'succeeded'"
            wait_for(lambda: count(done) >= args.workers, 60, "every worker's first run")
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=WARM_UP + 1)
        last = first + timedelta(seconds=args.seconds)
        time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 2.0)
        # A scheduler behind on a loaded machine has not claimed every fire of the window yet:
        # stopped now, those would count as lost.
        window = (
            "SELECT count(*) FROM runs WHERE scheduled_for >= %s AND scheduled_for < %s",
            first,
            last,
        )
        try:
            wait_for(lambda: count(*window) >= args.jobs * args.seconds, 60, "the claims")
        except RuntimeError as exc:
            print(f"{executor}: {exc}", file=sys.stderr)
    finally:
        stop(scheduler)
        for worker in workers:
            stop(worker)
    rows = query(
        "SELECT status, started_at, scheduled_for, job_id, node FROM runs"
        " WHERE scheduled_for >= %s AND scheduled_for < %s",
        first,
        last,
    )
    for queue in queues if executor != "local" else []:
        if executor == "celery-rabbitmq":
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", queue], check=False, timeout=60)
        else:
            import redis

            client = redis.Redis.from_url(BROKERS[executor])
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            client.close()
    latencies = [
        (started - due).total_seconds()
        for status, started, due, _, _ in rows
        if status == "succeeded"
    ]
    ms = [x * 1000 for x in latencies]
    fires = Counter((job, due) for _, _, due, job, _ in rows)
    return {
        "executor": executor,
        "jobs": args.jobs,
        "mode": args.mode,
        "workers": args.workers if executor != "local" else None,
        "concurrency": args.concurrency if executor != "local" else None,
        "expected_per_s": args.jobs,
        "executed_per_s": round(len(ms) / args.seconds, 1),
        "statuses": dict(Counter(status for status, _, _, _, _ in rows)),
        # Fire times recorded more than once, and fire times of the window with no run at all.
        "duplicates": sum(n - 1 for n in fires.values()),
        "lost": round(args.jobs * args.seconds) - len(fires),
        "by_node": dict(Counter(node for status, _, _, _, node in rows if status == "succeeded")),
        "p50_ms": round(percentile(ms, 0.5), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=["spread", "aligned"], default="spread")
    parser.add_argument("--concurrency", type=int, default=8, help="threads of each worker")
    parser.add_argument(
        "--workers", type=int, default=1, help="gnomon worker processes, and queues the jobs use"
    )
    parser.add_argument(
        "--executors", default="local,celery-redis,celery-rabbitmq", help="comma-separated"
    )
    results = []
    parser.add_argument("--keep", type=Path, help="keep the processes' logs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gnomon-bench-celery-") as tmp:
        logs = args.keep or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for executor in args.executors.split(","):
            result = measure(executor, args, logs)
            print(json.dumps(result), flush=True)
            results.append(result)
    print(
        "\n| executor | workers | jobs | fires/s executed | p50 ms | p99 ms | max ms"
        " | not succeeded | duplicates | lost |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        other = sum(n for status, n in r["statuses"].items() if status != "succeeded")
        print(
            f"| {r['executor']} | {r['workers'] or '-'} | {r['jobs']} {r['mode']} |"
            f" {r['executed_per_s']} of {r['expected_per_s']} | {r['p50_ms']} | {r['p99_ms']}"
            f" | {r['max_ms']} | {other} | {r['duplicates']} | {r['lost']} |"
        )


if __name__ == "__main__":
    main()
