"""What a `gnomon worker` does with a delivered run id, without the broker: RunWorker against a
real SQLite store starts the run once, executes it with the engine's executors and records it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gnomon.domain import (
    Executor,
    Isolation,
    JobDefinition,
    JobRecord,
    RetryPolicy,
    Run,
    RunStatus,
    TriggerSource,
    utcnow,
)
from gnomon.engine.executors import install_output_routing, uninstall_output_routing
from gnomon.engine.listener import RUNS, ChangePublisher, libpq_url
from gnomon.engine.worker import RunWorker
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from tests.e2e.pg import fresh_database
from tests.e2e.procs import wait_for
from tests.engine.targets import command_job, new_run, python_job


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def worker(store: SqlStore) -> Iterator[RunWorker]:
    install_output_routing()
    worker = RunWorker(store, node_id="w1", queues=["reports"], concurrency=2, lease_ttl=2)
    worker.start()
    yield worker
    worker.stop()
    uninstall_output_routing()


def register(store: SqlStore, definition: JobDefinition) -> JobDefinition:
    on_celery = dataclasses.replace(definition, executor=Executor.CELERY, queue="reports")
    store.write_jobs([JobWrite(JobRecord(definition=on_celery, trigger=on_celery.trigger))])
    return on_celery


def sent(store: SqlStore, job_id: str) -> str:
    """A run as a leader leaves it for workers: queued, its own, due now."""
    run = new_run(job_id, node="leader", scheduled_for=utcnow())
    return store.add_run(run.replace(status=RunStatus.QUEUED)).id


def recorded(store: SqlStore, run_id: str) -> Run:
    """The run once its end is written (the worker's recorder writes ends in batches, within
    RECORD_INTERVAL of the run's end)."""
    return wait_for(
        lambda: (run := store.get_run(run_id)).status.is_final and run,
        timeout=5,
        what=f"run {run_id}'s end to be recorded",
    )


def executing(
    worker: RunWorker, run_id: str, *, running: bool = True
) -> tuple[threading.Thread, list[RunStatus | None]]:
    """`worker.execute(run_id)` in a thread of its own (its result lands in the list), returned
    once the run executes unless `running` is False."""
    ended: list[RunStatus | None] = []
    thread = threading.Thread(target=lambda: ended.append(worker.execute(run_id)))
    thread.start()
    if running:
        wait_for(lambda: run_id in worker.running(), timeout=5, what="the run to start")
    return thread, ended


def test_a_worker_registers_as_a_node_with_its_queues(store: SqlStore, worker: RunWorker) -> None:
    (node,) = store.list_nodes()
    assert (node.id, node.roles, node.queues, node.concurrency) == (
        "w1",
        ("worker",),
        ("reports",),
        2,
    )


def test_a_python_run_executes_once_with_its_context_and_output(
    store: SqlStore, worker: RunWorker
) -> None:
    register(store, python_job("tests.engine.targets:logs"))
    run_id = sent(store, "j1")
    assert worker.execute(run_id) is RunStatus.SUCCEEDED
    assert worker.execute(run_id) is None  # delivered again: refused, not run again
    run = recorded(store, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.node == "w1"
    assert run.output is not None and "copied 3 files" in run.output
    assert run.started_at is not None and run.finished_at is not None


def test_a_command_run_records_its_output_and_exit_code(store: SqlStore, worker: RunWorker) -> None:
    register(store, command_job("sh", "-c", "echo out; echo err >&2; exit 3"))
    run_id = sent(store, "c1")
    assert worker.execute(run_id) is RunStatus.FAILED
    run = recorded(store, run_id)
    assert run.exit_code == 3 and run.output is not None
    assert "out" in run.output and "err" in run.output


def test_a_timeout_ends_the_run_and_a_failure_queues_its_retry(
    store: SqlStore, worker: RunWorker
) -> None:
    register(store, command_job("sleep", "30", timeout=0.5, retry=RetryPolicy(retries=1)))
    run_id = sent(store, "c1")
    assert worker.execute(run_id) is RunStatus.TIMED_OUT
    recorded(store, run_id)
    retry = store.find_retry(run_id)
    assert retry is not None and retry.trigger_source is TriggerSource.RETRY
    assert retry.status is RunStatus.QUEUED and retry.node is None  # for a leader to send


def test_a_cancel_requested_reaches_the_run_on_the_worker(
    store: SqlStore, worker: RunWorker
) -> None:
    register(store, python_job("tests.engine.targets:waits_for_cancel"))
    run_id = sent(store, "j1")
    thread, ended = executing(worker, run_id)
    store.request_cancel(run_id, utcnow())
    thread.join(timeout=5)
    assert ended == [RunStatus.CANCELLED]


@pytest.mark.postgres
def test_a_worker_on_postgresql_hears_of_a_cancel_request_at_once() -> None:
    # It would look for cancel requests only once a minute here: the notice the API sends
    # after a cancel request (listener.RUNS) is what makes it look now.
    with fresh_database("gnomon_worker") as url:
        store = SqlStore(url)
        store.upgrade()
        dsn = libpq_url(url)
        assert dsn is not None
        install_output_routing()
        worker = RunWorker(
            store,
            node_id="w1",
            queues=["reports"],
            concurrency=2,
            lease_ttl=240,
            changes_dsn=dsn,
            cancel_poll=60,
        )
        publisher = ChangePublisher(dsn)
        try:
            worker.start()
            register(store, command_job("sleep", "30"))
            run_id = sent(store, "c1")
            thread, ended = executing(worker, run_id)
            store.request_cancel(run_id, utcnow())
            assert publisher.publish(RUNS)
            thread.join(timeout=10)
            assert ended == [RunStatus.CANCELLED]
            assert recorded(store, run_id).status is RunStatus.CANCELLED
        finally:
            publisher.close()
            worker.stop()
            uninstall_output_routing()
            store.close()


def test_process_isolation_on_a_worker_a_dying_or_hanging_target_ends_only_its_run(
    store: SqlStore, worker: RunWorker
) -> None:
    register(
        store,
        python_job("tests.engine.targets:dies", kwargs={"code": 3}, isolation=Isolation.PROCESS),
    )
    dying = sent(store, "j1")
    assert worker.execute(dying) is RunStatus.FAILED
    assert recorded(store, dying).exit_code == 3
    register(
        store,
        python_job("tests.engine.targets:hangs", isolation=Isolation.PROCESS, timeout=0.5),
    )
    hanging = sent(store, "j1")
    assert worker.execute(hanging) is RunStatus.TIMED_OUT
    # Its process ended by the timeout (a thread could not be); the worker goes on.
    output = recorded(store, hanging).output
    assert output is not None and "sent SIGTERM to its process group" in output
    register(store, python_job("tests.engine.targets:ok"))
    assert worker.execute(sent(store, "j1")) is RunStatus.SUCCEEDED


def test_a_run_past_its_grace_is_recorded_missed_not_run(
    store: SqlStore, worker: RunWorker
) -> None:
    register(store, python_job("tests.engine.targets:fails", misfire_grace_time=5))
    late = new_run("j1", node="leader", scheduled_for=utcnow() - timedelta(seconds=60))
    late = store.add_run(late.replace(status=RunStatus.QUEUED))
    assert worker.execute(late.id) is RunStatus.MISSED
    assert store.get_run(late.id).reason == "overloaded"


@pytest.mark.parametrize("kind", ["python", "command"])
def test_a_runs_output_reaches_its_record_while_it_runs_on_the_worker(
    store: SqlStore, worker: RunWorker, kind: str
) -> None:
    if kind == "python":
        register(store, python_job("tests.engine.targets:logs_slowly"))
        run_id = sent(store, "j1")
    else:
        register(store, command_job("sh", "-c", "echo first; sleep 5; echo second"))
        run_id = sent(store, "c1")
    thread, ended = executing(worker, run_id, running=False)
    try:
        live = wait_for(
            lambda: (run := store.get_run(run_id)).output and run,
            timeout=5,
            what="output before the run ends",
        )
    finally:
        thread.join(timeout=10)
    assert live.status is RunStatus.RUNNING and live.node == "w1"
    assert "first" in (live.output or "") and "second" not in (live.output or "")
    assert ended == [RunStatus.SUCCEEDED]
    final = recorded(store, run_id).output or ""
    assert "first" in final and "second" in final


class CountingStore(SqlStore):
    """A SQLite store that notes the size of each batch of worker starts it commits."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.start_batches: list[int] = []

    def start_on_workers(self, run_ids: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        self.start_batches.append(len(run_ids))
        return super().start_on_workers(run_ids, *args, **kwargs)


def test_many_runs_delivered_at_once_start_once_each_in_batches_and_end_recorded(
    tmp_path: Path,
) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    install_output_routing()
    worker = RunWorker(store, node_id="w1", queues=["reports"], concurrency=8, lease_ttl=2)
    worker.start()
    try:
        register(store, python_job("tests.engine.targets:ok", max_instances=100))
        run_ids = [sent(store, "j1") for _ in range(50)]
        # Every message delivered twice, as a broker may: 100 deliveries on 8 threads.
        deliveries = run_ids + run_ids[::-1]
        outcomes: list[RunStatus | None] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(worker.execute, deliveries))
        assert outcomes.count(RunStatus.SUCCEEDED) == 50  # each started (and ran) once
        assert outcomes.count(None) == 50  # each second delivery refused
        for run_id in run_ids:
            run = recorded(store, run_id)
            assert run.status is RunStatus.SUCCEEDED and run.node == "w1"
        # Starts waiting together were committed together.
        assert sum(store.start_batches) == 100 and max(store.start_batches) > 1
    finally:
        worker.stop()
        uninstall_output_routing()
        store.close()


def test_a_worker_stopping_writes_the_ends_it_still_holds(store: SqlStore) -> None:
    install_output_routing()
    # Ends written only by stop() here: the recorder's own flushes are an hour apart.
    worker = RunWorker(store, node_id="w1", queues=["reports"], concurrency=2, record_interval=3600)
    worker.start()
    try:
        register(store, python_job("tests.engine.targets:ok"))
        run_id = sent(store, "j1")
        assert worker.execute(run_id) is RunStatus.SUCCEEDED
        assert store.get_run(run_id).status is RunStatus.RUNNING  # handed over, not written
    finally:
        worker.stop()
        uninstall_output_routing()
    ended = store.get_run(run_id)
    assert ended.status is RunStatus.SUCCEEDED and ended.node == "w1"
    assert store.list_nodes() == []


def test_a_run_ended_here_frees_its_max_instances_slot_before_the_next_start(
    store: SqlStore,
) -> None:
    install_output_routing()
    # The recorder's own flushes an hour apart: only the start of the next run writes the end.
    worker = RunWorker(store, node_id="w1", queues=["reports"], concurrency=2, record_interval=3600)
    worker.start()
    try:
        register(store, python_job("tests.engine.targets:ok", max_instances=1))
        first, second = sent(store, "j1"), sent(store, "j1")
        assert worker.execute(first) is RunStatus.SUCCEEDED
        assert worker.execute(second) is RunStatus.SUCCEEDED  # not skipped for max_instances
        assert store.get_run(first).status is RunStatus.SUCCEEDED
    finally:
        worker.stop()
        uninstall_output_routing()
