"""End-to-end, two `gnomon worker` processes: a real `gnomon serve` on PostgreSQL sends fires of
many jobs to two queues both workers consume; a worker killed mid-run; a broker restarted after
an outage. What is checked is that every fire runs exactly once or is recorded with the reason
it did not, never silently lost (fire → started latency is a benchmark figure:
bench/celery_dispatch.py --workers 2)."""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.brokers import WorkerProcess, broker, private_redis, unique
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for
from tests.e2e.servers import API, Client, ServerProcess, ok
from tests.e2e.test_celery_process import config_with as celery_config
from tests.e2e.test_celery_process import prepared, read_runs

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("processes")]

#: Jobs firing every second, phases spread over the second: 200 fires a second.
JOBS = 200
#: Seconds of fires checked one by one (the benchmark runs the same shape for 30 s).
WINDOW = 10

TICKS = """
import os

def tick(fired_log, run):
    # One line per execution, written by the job itself: what the tests count as "ran".
    line = f"{run.job_id} {run.scheduled_for.isoformat()}\\n".encode()
    fd = os.open(fired_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
"""


def config_with(directory: Path, store_url: str, broker_url: str, settings: str, jobs: str) -> Path:
    (directory / "ticks.py").write_text(TICKS, encoding="utf-8")
    return celery_config(directory, store_url, broker_url, settings, jobs)


def tick_job(job: str, queue: str, fired: Path, trigger: str, extra: str = "") -> str:
    return (
        f'[[jobs]]\nid = "{job}"\ntarget = "ticks:tick"\nqueue = "{queue}"\n'
        f'kwargs = {{ fired_log = "{fired}" }}\n{extra}trigger = {trigger}\n\n'
    )


def executed(fired: Path) -> list[str]:
    return fired.read_text().splitlines() if fired.exists() else []


def fire_key(run: dict[str, Any]) -> str:
    """A run as the line its execution wrote."""
    return f"{run['job_id']} {run['scheduled_for'].astimezone(UTC).isoformat()}"


def wait_settled(store_url: str, since: datetime, until: datetime, timeout: float) -> None:
    """Wait until every run of a fire time in [since, until) has ended."""

    def settled() -> bool:
        return all(
            r["status"] not in ("queued", "running")
            for r in read_runs(store_url)
            if r["scheduled_for"] is not None and since <= r["scheduled_for"] < until
        )

    wait_for(settled, timeout=timeout, what="the runs of the fire times looked at to end")


def sleep_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_two_workers_on_two_queues_run_200_fires_a_second_each_exactly_once(
    tmp_path: Path, kind: str
) -> None:
    queues = [unique("gnomon_qa"), unique("gnomon_qb")]
    fired = tmp_path / "fired.log"
    base = datetime.now(UTC).replace(microsecond=0)
    starts = {f"t{i:03d}": base + timedelta(seconds=i / JOBS) for i in range(JOBS)}
    jobs = "".join(
        tick_job(
            job,
            queues[i % 2],
            fired,
            f'{{ type = "interval", seconds = 1, start_date = "{start.isoformat()}" }}',
            # Late rather than missed on a slow machine: every fire of the window must run.
            extra="misfire_grace_time = 120\n",
        )
        for i, (job, start) in enumerate(starts.items())
    )
    with fresh_database() as store_url, broker(kind, queues) as broker_url:
        config = config_with(tmp_path, store_url, broker_url, "", jobs)
        prepared(config).close()
        workers = [
            WorkerProcess(config, tmp_path / f"worker{i}.log", queues, concurrency=8)
            for i in range(2)
        ]
        server = ServerProcess(config, tmp_path / "serve.log")
        try:

            def both_run() -> bool:
                nodes = {r["node"] for r in read_runs(store_url) if r["status"] == "succeeded"}
                return nodes >= {w.node_id for w in workers}

            wait_for(both_run, timeout=60, what="runs on both workers")
            first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
            last = first + timedelta(seconds=WINDOW)
            sleep_until(last + timedelta(seconds=0.5))
            # The leader goes on sending (a run it had claimed but not sent when stopped would
            # wait for another leader) until the window's runs have ended.
            wait_settled(store_url, first, last, timeout=120)
        finally:
            server.stop()
            for worker in workers:
                worker.stop()
        runs = read_runs(store_url)
    log = "".join(f"worker{i}:\n{w.output()[-2000:]}\n" for i, w in enumerate(workers))
    expected = {
        f"{job} {(start + timedelta(seconds=k)).isoformat()}"
        for job, start in starts.items()
        for k in range(int((last - base).total_seconds()) + 2)
        if first <= start + timedelta(seconds=k) < last
    }
    assert len(expected) == JOBS * WINDOW
    window = [r for r in runs if first <= r["scheduled_for"] < last]
    # Every fire of the window recorded once and run: none twice, none lost.
    records = Counter(fire_key(r) for r in window)
    assert set(records) == expected, log
    assert max(records.values()) == 1, log
    assert Counter(r["status"] for r in window) == {"succeeded": JOBS * WINDOW}, log
    # Executed once each, as the store says (the jobs' own lines, from the whole test).
    lines = executed(fired)
    assert len(lines) == len(set(lines)), "a fire ran twice"
    assert set(lines) == {fire_key(r) for r in runs if r["status"] == "succeeded"}
    # Both workers took runs from both queues.
    by_node = Counter((r["node"], int(r["job_id"][1:]) % 2) for r in window)
    assert set(by_node) == {(w.node_id, q) for w in workers for q in (0, 1)}, by_node


def test_a_killed_workers_run_ends_interrupted_and_its_messages_run_on_the_other_once(
    tmp_path: Path,
) -> None:
    queues = [unique("gnomon_qa"), unique("gnomon_qb")]
    fired = tmp_path / "fired.log"
    every_second = '{ type = "interval", seconds = 1 }'
    jobs = (
        f'[[jobs]]\nid = "slow"\ncommand = ["sleep", "20"]\nqueue = "{queues[0]}"\n'
        'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }\n\n'
        + tick_job("tick_a", queues[0], fired, every_second)
        + tick_job("tick_b", queues[1], fired, every_second)
    )
    # A short lease: a silent worker is noticed after two lease times.
    with fresh_database() as store_url, broker("rabbitmq", queues) as broker_url:
        config = config_with(tmp_path, store_url, broker_url, "lease_ttl = 2\n", jobs)
        prepared(config).close()
        doomed = WorkerProcess(config, tmp_path / "doomed.log", queues, concurrency=2)
        server = ServerProcess(config, tmp_path / "serve.log")
        other = None
        try:
            client = Client(server.url).login()

            def runs_of(job: str, status: str) -> list[dict[str, Any]]:
                return [
                    r for r in read_runs(store_url) if r["job_id"] == job and r["status"] == status
                ]

            # The slow run starts on the first worker, alone; then the other one joins.
            ok(client.request("POST", f"{API}/scheduler/jobs/slow/actions/run"))
            (running,) = wait_for(lambda: runs_of("slow", "running"), timeout=20, what="slow")
            assert running["node"] == doomed.node_id
            other = WorkerProcess(config, tmp_path / "other.log", queues, concurrency=2)
            wait_for(
                lambda: any(r["node"] == other.node_id for r in runs_of("tick_b", "succeeded")),
                timeout=30,
                what="the other worker to run ticks",
            )
            doomed.proc.send_signal(signal.SIGKILL)
            doomed.proc.wait(10)
            killed = datetime.now(UTC)
            (ended,) = wait_for(
                lambda: runs_of("slow", "interrupted"), timeout=20, what="the interruption"
            )
            # The message of the killed worker's run went back to the queue (acks_late) and
            # reached the other worker, which refused to run it again.
            wait_for(
                lambda: f"run {running['id']} not started on this worker" in other.output(),
                timeout=20,
                what="the other worker to refuse the run's redelivered message",
            )
            stopped = datetime.now(UTC) + timedelta(seconds=2)
            sleep_until(stopped)
            wait_settled(store_url, killed - timedelta(minutes=5), stopped, timeout=30)
        finally:
            server.stop()
            doomed.stop()
            if other is not None:
                other.stop()
        runs = read_runs(store_url)
    log = f"other:\n{other.output()[-3000:]}\nserve:\n{server.output()[-3000:]}"
    assert ended["id"] == running["id"] and "stopped or was lost" in ended["reason"], log
    # Ticks go on on the other worker from the kill to the stop.
    since, until = killed + timedelta(seconds=1), stopped - timedelta(seconds=1)
    after = [r for r in runs if r["job_id"] != "slow" and since <= r["scheduled_for"] < until]
    assert {r["job_id"] for r in after} == {"tick_a", "tick_b"}, log
    assert {(r["status"], r["node"]) for r in after} == {("succeeded", other.node_id)}, log
    # Nothing twice: each fire recorded once, and executed at most once (a tick running on the
    # killed worker when it died may have run and be recorded interrupted).
    ticks = [r for r in runs if r["job_id"] != "slow"]
    assert max(Counter(fire_key(r) for r in ticks).values()) == 1, log
    lines = executed(fired)
    assert len(lines) == len(set(lines)), "a fire ran twice"
    ran = {fire_key(r) for r in ticks if r["status"] == "succeeded"}
    assert ran <= set(lines)
    assert set(lines) - ran <= {fire_key(r) for r in ticks if r["status"] == "interrupted"}


def test_fires_during_a_broker_outage_run_late_within_their_grace_and_the_rest_are_missed(
    tmp_path: Path,
) -> None:
    # The leader tries a failed send again within RETRY_LONGEST (5 s) and the worker reaches a
    # broker back within RECONNECT_LONGEST (2 s): fires still within their grace 7 s after the
    # broker came back must run, and fires past it before the broker came back are missed.
    grace, outage, back_within = 10, 20, timedelta(seconds=7)
    queue = unique("gnomon_q")
    fired = tmp_path / "fired.log"
    jobs = tick_job(
        "tick",
        queue,
        fired,
        '{ type = "interval", seconds = 1 }',
        # Late runs delivered together all start (one at a time, they would be skipped).
        extra=f"misfire_grace_time = {grace}\nmax_instances = 5\n",
    )
    with fresh_database() as store_url, private_redis(tmp_path / "redis") as redis:
        config = config_with(tmp_path, store_url, redis.url, "", jobs)
        prepared(config).close()
        worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=4)
        server = ServerProcess(config, tmp_path / "serve.log")
        try:

            def succeeded_since(when: datetime) -> list[dict[str, Any]]:
                return [
                    r
                    for r in read_runs(store_url)
                    if r["status"] == "succeeded" and r["scheduled_for"] >= when
                ]

            wait_for(
                lambda: len(succeeded_since(datetime.min.replace(tzinfo=UTC))) >= 2,
                timeout=30,
                what="ticks on the worker",
            )
            redis.stop()  # Redis restarted: stopped as a restart does, started again after
            down = datetime.now(UTC)
            time.sleep(outage)
            up = datetime.now(UTC)
            redis.start()
            wait_for(
                lambda: len(succeeded_since(up + back_within)) >= 2,
                timeout=60,
                what="ticks on the worker once the broker is back",
            )
            stopped = datetime.now(UTC)
            wait_settled(store_url, down - timedelta(minutes=5), stopped, timeout=30)
        finally:
            server.stop()
            worker.stop()
        runs = read_runs(store_url)
    log = f"serve:\n{server.output()[-3000:]}\nworker:\n{worker.output()[-3000:]}"
    seen = [(r["scheduled_for"].time().isoformat(), r["status"], r["reason"]) for r in runs]
    log += f"\nruns: {seen}\ndown {down.time()} up {up.time()}"
    # Every fire from the first run to the stop recorded once, none lost in between (fires due
    # before the scheduler started are coalesced into its first run).
    began = min(r["scheduled_for"] for r in runs if r["status"] == "succeeded")
    ended = [r for r in runs if began <= r["scheduled_for"] < stopped]
    for before, after in itertools.pairwise(ended):
        last = before["last_scheduled_for"] or before["scheduled_for"]
        assert after["scheduled_for"] == last + timedelta(seconds=1), log
    assert {r["status"] for r in ended} == {"succeeded", "missed"}, log
    # Missed, saying why: past their grace before the broker was back, or (sent as it came
    # back) before the worker was.
    missed = [r for r in ended if r["status"] == "missed"]
    assert {r["reason"] for r in missed} <= {"broker_unavailable", "overloaded"}, log
    assert all(down - timedelta(seconds=1) <= r["scheduled_for"] < up for r in missed), log
    # (A send tried just before a fire's grace ends may be taken by the broker as it comes back
    # and reach the worker just after: missed, overloaded.)
    gone = [
        r
        for r in ended
        if down <= r["scheduled_for"]
        and r["scheduled_for"] + timedelta(seconds=grace) < up - timedelta(seconds=2)
    ]
    assert gone and {(r["status"], r["reason"]) for r in gone} == {
        ("missed", "broker_unavailable")
    }, log
    # Run late, once: the fires of the outage still within their grace when it was over.
    late = [
        r
        for r in ended
        if down <= r["scheduled_for"] < up
        and r["scheduled_for"] + timedelta(seconds=grace) > up + back_within
    ]
    assert late and {r["status"] for r in late} == {"succeeded"}, log
    assert all(r["started_at"] >= up for r in late), log
    lines = executed(fired)
    assert len(lines) == len(set(lines)), "a fire ran twice"
    assert set(lines) == {fire_key(r) for r in runs if r["status"] == "succeeded"}
