"""End-to-end: a real `gnomon serve` on PostgreSQL sends runs through the machine's RabbitMQ or
Redis to a real `gnomon worker`, which executes each fire exactly once and records it."""

from __future__ import annotations

import itertools
import signal
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.engine.celery_app import CeleryPublisher
from gnomon.ids import new_run_id
from gnomon.services.runtime import Runtime
from tests.components import libpq
from tests.e2e.brokers import WorkerProcess, broker, unique
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for
from tests.e2e.servers import API, Client, ServerProcess, free_port, ok

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("processes")]

PYTHON_JOBS = ["py0", "py1"]
COMMAND_JOBS = ["cmd0", "cmd1"]
FIRES = 5  # fires of every job to see executed before stopping
SECOND = timedelta(seconds=1)

JOB_MODULE = """
def hello(fired_log, run):
    # One line per execution, written by the job itself: what the test counts as "ran".
    with open(fired_log, "a") as fired:
        fired.write(f"{run.job_id} {run.scheduled_for.isoformat()}\\n")
    print(f"hello from {run.run_id}")
    run.logger.info("logged by %s", run.job_id)
"""


def command(job: str) -> str:
    """A command job's argv, as TOML: a line on stdout and one on stderr."""
    return f'["sh", "-c", "echo out-{job}; echo err-{job} >&2"]'


def write_config(directory: Path, store_url: str, broker_url: str, queue: str) -> Path:
    (directory / "celeryjobs.py").write_text(JOB_MODULE, encoding="utf-8")
    fired = directory / "fired.log"
    jobs = "".join(
        f'[[jobs]]\nid = "{job}"\ntarget = "celeryjobs:hello"\nqueue = "{queue}"\n'
        f'kwargs = {{ fired_log = "{fired}" }}\n'
        'trigger = { type = "interval", seconds = 1 }\n\n'  # fires: the test counts every fire
        for job in PYTHON_JOBS
    )
    jobs += "".join(
        f'[[jobs]]\nid = "{job}"\ncommand = {command(job)}\nqueue = "{queue}"\n'
        'trigger = { type = "interval", seconds = 1 }\n\n'  # fires: the test counts every fire
        for job in COMMAND_JOBS
    )
    return config_with(directory, store_url, broker_url, "", jobs)


def config_with(directory: Path, store_url: str, broker_url: str, settings: str, jobs: str) -> Path:
    """gnomon.toml in `directory`: the store, executor = "celery" with the broker, the shipped
    prune job off, `settings` added to [scheduler], then `jobs`."""
    config = directory / "gnomon.toml"
    config.write_text(
        textwrap.dedent(f"""
            data_dir = "data"

            [store]
            url = "{store_url}"

            [scheduler]
            timezone = "UTC"
            executor = "celery"
            python_path = ["."]
            shutdown_grace = 5
        """)
        + settings
        + textwrap.dedent(f"""

            [celery]
            broker_url = "{broker_url}"

            [[jobs]]
            id = "gnomon.prune_runs"
            enabled = false

        """)
        + jobs,
        encoding="utf-8",
    )
    return config


def read_runs(store_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(libpq(store_url), row_factory=dict_row) as conn:
        return list(conn.execute("SELECT * FROM runs ORDER BY job_id, scheduled_for"))


def prepared(config: Path) -> Runtime:
    """The store migrated and the jobs registered, as `gnomon serve` would (so that a worker
    may start first)."""
    runtime = Runtime.from_config_file(config, env={})
    runtime.prepare_store()
    runtime.ready_for_commands()
    return runtime


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_every_fire_runs_once_on_the_worker_and_is_recorded(tmp_path: Path, kind: str) -> None:
    queue = unique("gnomon_q")
    with fresh_database() as store_url, broker(kind, [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        prepared(config).close()
        worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=4)
        server = ServerProcess(config, tmp_path / "serve.log")
        try:
            client = Client(server.url).login()

            def worker_listed() -> dict[str, Any] | None:
                status = ok(client.request("GET", f"{API}/scheduler/status"))
                return next((n for n in status["nodes"] if n["id"] == worker.node_id), None)

            node = wait_for(worker_listed, timeout=15, what="the worker in the status")
            assert node["roles"] == ["worker"] and node["queues"] == [queue]
            assert node["concurrency"] == 4 and node["is_leader"] is False

            def enough() -> bool:
                done = Counter(
                    r["job_id"] for r in read_runs(store_url) if r["status"] == "succeeded"
                )
                return all(done[job] >= FIRES for job in PYTHON_JOBS + COMMAND_JOBS)

            wait_for(enough, timeout=20, what=f"{FIRES} runs of every job on the worker")
            ready = requests.get(f"{server.url}/readyz", timeout=10).json()["data"]
            assert ready == {"status": "ready"}
            assert "gnomon_broker_up 1.0" in requests.get(f"{server.url}/metrics", timeout=10).text
        finally:
            server.stop()
            worker.stop()
        runs = read_runs(store_url)
    log = f"serve:\n{server.output()[-3000:]}\nworker:\n{worker.output()[-3000:]}"
    fires = Counter((r["job_id"], r["scheduled_for"]) for r in runs)
    assert max(fires.values()) == 1, log
    for job in PYTHON_JOBS + COMMAND_JOBS:
        mine = [r for r in runs if r["job_id"] == job]
        done = [r for r in mine if r["status"] == "succeeded"]
        assert len(done) >= FIRES, log
        # Nothing lost: every fire time from the first to the last executed one ran (fires
        # due before the scheduler started are coalesced into its first run), and what is
        # not executed is only what the scheduler had claimed ahead when it stopped.
        seen = [(r["scheduled_for"].time().isoformat(), r["status"], r["reason"]) for r in mine]
        # A fire that found the job's previous run still going on a loaded worker is recorded
        # skipped (max_instances): a record saying why, not a loss.
        ended = [r for r in mine if r["status"] != "queued"]
        assert {r["status"] for r in ended} <= {"succeeded", "skipped"}, (job, seen, log)
        assert all(r["reason"] == "max_instances" for r in ended if r["status"] == "skipped")
        for before, after in itertools.pairwise(ended):
            last = before["last_scheduled_for"] or before["scheduled_for"]
            assert after["scheduled_for"] == last + SECOND, (job, seen, log)
        latest = done[-1]["last_scheduled_for"] or done[-1]["scheduled_for"]
        assert {r["status"] for r in mine if r["scheduled_for"] > latest} <= {"queued"}, log
        for r in done:
            assert r["node"] == worker.node_id, log
            assert r["started_at"] >= r["scheduled_for"] and r["finished_at"] is not None
        if job in COMMAND_JOBS:
            assert all(f"out-{job}" in r["output"] and f"err-{job}" in r["output"] for r in done)
            assert {r["exit_code"] for r in done} == {0}
        else:
            assert all(f"hello from {r['id']}" in r["output"] for r in done), log
            assert all(f"logged by {job}" in r["output"] for r in done), log
    # Executed once each: the jobs' own record of what ran matches the store's.
    executed = (tmp_path / "fired.log").read_text().splitlines()
    assert len(executed) == len(set(executed)), executed
    recorded = {
        f"{r['job_id']} {r['scheduled_for'].astimezone(UTC).isoformat()}"
        for r in runs
        if r["job_id"] in PYTHON_JOBS and r["status"] == "succeeded"
    }
    assert set(executed) == recorded


def test_a_run_published_twice_runs_once(tmp_path: Path) -> None:
    queue = unique("gnomon_q")
    with fresh_database() as store_url, broker("rabbitmq", [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        runtime = prepared(config)
        # A run as a leader leaves it for workers: queued, its own; its id sent twice.
        run = runtime.store.add_run(
            Run(
                id=new_run_id(),
                job_id="py0",
                trigger_source=TriggerSource.SCHEDULED,
                status=RunStatus.QUEUED,
                queued_at=datetime.now(UTC),
                scheduled_for=datetime.now(UTC).replace(microsecond=0),
                node="some-leader",
            )
        )
        publisher = CeleryPublisher(broker_url)
        publisher.publish(run.id, queue)
        publisher.publish(run.id, queue)
        publisher.close()
        # Both messages wait for the worker, which takes them at once on two threads.
        worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=2)
        try:
            wait_for(
                lambda: runtime.store.get_run(run.id).status is RunStatus.SUCCEEDED,
                timeout=20,
                what="the run to succeed",
            )
            wait_for(
                lambda: worker.output().count("succeeded in") >= 2,
                timeout=10,
                what="both messages to be handled",
            )
            time.sleep(0.5)
        finally:
            worker.stop()
            runtime.close()
    executed = (tmp_path / "fired.log").read_text().splitlines()
    assert len(executed) == 1, worker.output()
    assert "not started on this worker" in worker.output()


def test_fires_the_broker_cannot_take_within_their_grace_are_recorded_missed(
    tmp_path: Path,
) -> None:
    # A broker address where nothing listens: every publish fails, as with RabbitMQ stopped.
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    with fresh_database() as store_url:
        config = write_config(tmp_path, store_url, down, unique("gnomon_q"))
        text = config.read_text().replace("shutdown_grace = 5", "misfire_grace_time = 2")
        config.write_text(text)
        server = ServerProcess(config, tmp_path / "serve.log")
        try:

            def missed() -> list[dict[str, Any]]:
                return [
                    r
                    for r in read_runs(store_url)
                    if r["job_id"] == "cmd0" and r["status"] == "missed"
                ]

            found = wait_for(lambda: len(missed()) >= 2 and missed(), timeout=20, what="misses")
            ready = requests.get(f"{server.url}/readyz", timeout=10)
            metrics = requests.get(f"{server.url}/metrics", timeout=10).text
        finally:
            server.stop()
        runs = read_runs(store_url)
    assert {r["reason"] for r in found} == {"broker_unavailable"}, server.output()[-3000:]
    assert all("broker could not be reached" in r["error_message"] for r in found)
    # Nothing ran, and nothing is left running or claimed by a node gone.
    assert {r["status"] for r in runs} <= {"missed", "queued"}
    assert "could not send" in server.output()
    # The API still works, and says what does not.
    assert ready.status_code == 200
    assert ready.json()["data"] == {
        "status": "degraded",
        "threads_down": [],
        "broker": "unreachable",
    }
    assert "gnomon_broker_up 0.0" in metrics


def test_runs_of_a_worker_killed_mid_run_end_interrupted(tmp_path: Path) -> None:
    queue = unique("gnomon_q")
    with fresh_database() as store_url, broker("redis", [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        # One slow job, and a short lease: a silent node is noticed after two lease times.
        slow_jobs_config(
            config,
            queue,
            '[[jobs]]\nid = "slow"\ncommand = ["sleep", "60"]\nqueue = "QUEUE"\n'
            'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }\n',
        )
        text = config.read_text().replace("shutdown_grace = 5", "shutdown_grace = 5\nlease_ttl = 2")
        config.write_text(text)
        prepared(config).close()
        worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=1)
        server = ServerProcess(config, tmp_path / "serve.log")
        try:
            # Run by hand: a manual run goes to the workers like a scheduled one.
            client = Client(server.url).login()
            ok(client.request("POST", f"{API}/scheduler/jobs/slow/actions/run"))

            def slow(status: str) -> dict[str, Any] | None:
                return next(
                    (
                        r
                        for r in read_runs(store_url)
                        if r["job_id"] == "slow" and r["status"] == status
                    ),
                    None,
                )

            running = wait_for(lambda: slow("running"), timeout=15, what="the run to start")
            assert running["node"] == worker.node_id
            # While the worker beats, its run is no orphan, past two lease times too.
            time.sleep(5)
            assert slow("running") is not None
            worker.proc.kill()
            worker.proc.wait(10)
            ended = wait_for(lambda: slow("interrupted"), timeout=15, what="the interruption")
        finally:
            server.stop()
            worker.stop()
    assert ended["id"] == running["id"] and ended["finished_at"] is not None
    assert "stopped or was lost" in ended["reason"], server.output()[-3000:]


def slow_jobs_config(config: Path, queue: str, jobs: str) -> None:
    """Keep the config's settings (and the shipped job off), replace its jobs with `jobs`."""
    body = config.read_text().split('[[jobs]]\nid = "py0"')[0]
    assert "gnomon.prune_runs" in body
    config.write_text(body + jobs.replace("QUEUE", queue))


def test_cancel_and_timeout_end_runs_on_a_worker_which_shows_their_output_as_it_comes(
    tmp_path: Path,
) -> None:
    queue = unique("gnomon_q")
    never = 'trigger = { type = "interval", hours = 1, start_date = "2099-01-01T00:00:00Z" }'
    with fresh_database() as store_url, broker("redis", [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        slow_jobs_config(
            config,
            queue,
            '[[jobs]]\nid = "slow"\ncommand = ["sh", "-c", "echo begun; exec sleep 60"]\n'
            f'queue = "QUEUE"\n{never}\n\n'
            '[[jobs]]\nid = "late"\ncommand = ["sh", "-c", "echo waiting; exec sleep 60"]\n'
            f'timeout = 1\nqueue = "QUEUE"\n{never}\n',
        )
        prepared(config).close()
        worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=2)
        server = ServerProcess(config, tmp_path / "serve.log")
        try:
            client = Client(server.url).login()
            slow = ok(client.request("POST", f"{API}/scheduler/jobs/slow/actions/run"))["run_id"]
            late = ok(client.request("POST", f"{API}/scheduler/jobs/late/actions/run"))["run_id"]

            def run(run_id: str) -> dict[str, Any]:
                data: dict[str, Any] = ok(client.request("GET", f"{API}/scheduler/runs/{run_id}"))
                return data

            wait_for(lambda: run(slow)["status"] == "running", timeout=15, what="slow to start")
            # Its output is in its record while it runs (the worker writes it as it comes).
            live = wait_for(
                lambda: (found := run(slow))["output"] and found, timeout=5, what="live output"
            )
            asked = time.monotonic()
            ok(client.request("POST", f"{API}/scheduler/runs/{slow}/actions/cancel"))
            wait_for(
                lambda: run(slow)["status"] == "cancelled",
                timeout=10,
                what="the cancel",
                every=0.05,
            )
            took = time.monotonic() - asked
            ended = wait_for(
                lambda: (found := run(late))["status"] == "timed_out" and found,
                timeout=15,
                what="the timeout",
            )
        finally:
            server.stop()
            worker.stop()
    log = worker.output()[-3000:]
    assert live["status"] == "running" and "begun" in live["output"], live
    # The worker hears of the cancel request from the store at once (typically 0.1-0.2 s from
    # the request to the record saying cancelled), with room for a loaded machine.
    assert took < 1.5, (took, log)
    assert ended["node"] == worker.node_id, log
    # Ended soon after its timeout (typically within 0.1 s), its output kept.
    assert 1000 <= ended["duration_ms"] < 2500, ended
    assert "waiting" in ended["output"], ended


def test_pausing_skips_runs_sent_and_untaken_and_a_worker_later_does_not_run_them(
    tmp_path: Path,
) -> None:
    queue = unique("gnomon_q")
    with fresh_database() as store_url, broker("redis", [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        slow_jobs_config(
            config,
            queue,
            '[[jobs]]\nid = "held"\ntarget = "celeryjobs:hello"\nqueue = "QUEUE"\n'
            f'kwargs = {{ fired_log = "{tmp_path / "fired.log"}" }}\n'
            "misfire_grace_time = 300\n"  # untaken, they would wait this long for a worker
            'trigger = { type = "interval", seconds = 1 }\n',  # fires: sent with no worker
        )
        prepared(config).close()
        server = ServerProcess(config, tmp_path / "serve.log")
        worker = None
        try:
            client = Client(server.url).login()

            def sent() -> list[dict[str, Any]]:
                now = datetime.now(UTC)
                return [
                    r
                    for r in read_runs(store_url)
                    if r["status"] == "queued" and r["scheduled_for"] <= now - SECOND / 2
                ]

            waiting = wait_for(lambda: len(sent()) >= 2 and sent(), timeout=20, what="sends")
            ok(client.request("POST", f"{API}/scheduler/jobs/held/actions/pause"))
            # Recorded by the pause itself, not when some worker gets the message.
            after = {r["id"]: r for r in read_runs(store_url)}
            worker = WorkerProcess(config, tmp_path / "worker.log", [queue], concurrency=2)
            wait_for(
                lambda: worker.output().count("not started on this worker") >= len(waiting),
                timeout=20,
                what="the worker to refuse the messages of the skipped runs",
            )
        finally:
            server.stop()
            if worker is not None:
                worker.stop()
        runs = read_runs(store_url)
    log = f"serve:\n{server.output()[-3000:]}"
    for r in waiting:
        skipped = after[r["id"]]
        assert (skipped["status"], skipped["reason"]) == ("skipped", "paused"), (skipped, log)
        assert skipped["started_at"] is None
    # A fire claimed while the pause was being written may still be queued just after it: the
    # scheduler, finding its job changed, skips it before it is sent (it never reaches a worker).
    raced = {r["id"] for r in after.values() if r["status"] == "queued"}
    assert not raced & {r["id"] for r in waiting}, log
    final = {r["id"]: r for r in runs}
    for run_id in raced:
        assert (final[run_id]["status"], final[run_id]["reason"]) == ("skipped", "job_changed")
    assert {r["status"] for r in runs} == {"skipped"}, log
    assert not (tmp_path / "fired.log").exists()  # nothing ran, on the worker or elsewhere


def test_max_instances_holds_across_two_workers(tmp_path: Path) -> None:
    queue = unique("gnomon_q")
    with fresh_database() as store_url, broker("redis", [queue]) as broker_url:
        config = write_config(tmp_path, store_url, broker_url, queue)
        # Fires every second, each run taking four: with max_instances = 1, runs must wait their
        # turn whichever worker takes them. Four, so that fires are still sent after the first
        # worker is told to stop while its run goes on: it may have taken (and hands back only
        # once its run has ended) every fire sent before this test saw that run start, which
        # took over a second on a loaded machine.
        slow_jobs_config(
            config,
            queue,
            '[[jobs]]\nid = "busy"\ncommand = ["sleep", "4"]\nqueue = "QUEUE"\n'
            "max_instances = 1\n"
            'trigger = { type = "interval", seconds = 1 }\n',  # fires: turns taken are checked
        )
        prepared(config).close()
        workers = [
            WorkerProcess(config, tmp_path / f"worker{i}.log", [queue], concurrency=2)
            for i in range(2)
        ]
        server: ServerProcess | None = None
        try:
            # Both consume before the first fire is sent, so that the one left takes over at once.
            wait_for(
                lambda: all("@gnomon ready." in w.output() for w in workers),
                timeout=60,
                what="both workers to consume",
            )
            server = ServerProcess(config, tmp_path / "serve.log")
            # The broker decides which worker takes a message, and one may take them all. So the
            # hand-over is forced: the worker running the first run is stopped warmly (its run
            # goes on to the end, it takes no more messages), and the fires sent meanwhile reach
            # the other worker, which must see that run through the store and skip them.
            first = wait_for(
                lambda: next((r for r in read_runs(store_url) if r["status"] == "running"), None),
                timeout=40,
                what="a first run to start",
            )
            first_worker = next(w for w in workers if w.node_id == first["node"])
            other = next(w for w in workers if w is not first_worker)
            first_worker.proc.send_signal(signal.SIGTERM)

            def taken_over() -> bool:
                runs = read_runs(store_url)
                return any(r["status"] == "succeeded" and r["node"] == other.node_id for r in runs)

            wait_for(taken_over, timeout=40, what="a run to succeed on the other worker")
            assert first_worker.stop() == 0
        finally:
            if server is not None:
                server.stop()
            for worker in workers:
                worker.stop()
        runs = read_runs(store_url)
    done = sorted((r for r in runs if r["status"] == "succeeded"), key=lambda r: r["started_at"])
    for before, after in itertools.pairwise(done):
        assert after["started_at"] >= before["finished_at"], (before, after)
    (first_done,) = [r for r in done if r["id"] == first["id"]]
    # The other worker was handed fires while the first run ran on the first worker, and
    # skipped them (a skipped run keeps the node that sent it: the worker's log names it).
    skipped_meanwhile = [
        r["id"]
        for r in runs
        if r["status"] == "skipped"
        and first_done["started_at"] <= r["finished_at"] <= first_done["finished_at"]
    ]
    assert any(
        f"run {run_id} of job busy skipped: max_instances" in other.output()
        for run_id in skipped_meanwhile
    ), (skipped_meanwhile, other.output())
    assert {r["reason"] for r in runs if r["status"] == "skipped"} == {"max_instances"}
