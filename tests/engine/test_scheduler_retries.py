"""Retries on a running scheduler with a real store and a real webhook receiver: each attempt is a
run record of its own, backed off, chained, durable across a restart, held by a pause, cancelled
with the run it retries; and only the outcome after the last attempt tells anyone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import Event, Run, RunStatus, TriggerSource
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.engine.notify.receivers import HttpReceiver

TESTER = Actor("tester")

HEADER = """
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1
notify = ["ops"]

[[notifications]]
id = "ops"
type = "webhook"
url = "RECEIVER_URL"

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""


def once_at(when: datetime) -> str:
    return f'trigger = {{ type = "date", run_date = "{when.isoformat()}" }}'


def failing_until(counter: Path, attempts: int) -> str:
    """A shell command failing until its `attempts`-th run (counted in the file `counter`)."""
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter};"
        f" echo attempt $n; [ $n -ge {attempts} ]"
    )
    return f"command = {json.dumps(script)}\nshell = true"


def job(job_id: str, body: str, trigger: str, **settings: object) -> str:
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    return f'\n[[jobs]]\nid = "{job_id}"\n{body}\n{trigger}\n{lines}'


def attempts(runtime: Runtime, job_id: str) -> list[Run]:
    page = runtime.runs.list_runs(job_id=job_id, limit=100)
    return sorted(page.items, key=lambda run: run.attempt)


def ended(runtime: Runtime, job_id: str, count: int) -> bool:
    runs = attempts(runtime, job_id)
    return len(runs) >= count and all(run.status.is_final for run in runs)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver().start() as started:
        yield started


def test_attempts_are_chained_backed_off_and_only_the_last_outcome_alerts(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    config = (
        HEADER.replace("RECEIVER_URL", receiver.url)
        + job(
            "flaky",
            failing_until(tmp_path / "flaky.count", 3),
            once_at(soon),
            retries=3,
            retry_backoff=1.0,
            retry_backoff_max=1.5,
        )
        + job("broken", 'command = ["false"]', once_at(soon), retries=2, retry_backoff=0.5)
        + job("steady", 'command = ["false"]', once_at(soon))  # no retries: alerts at once
    )
    runtime = runtime_factory(write_config(config))
    runtime.start_scheduler()
    wait_for(lambda: ended(runtime, "flaky", 3), timeout=30, what="flaky's three attempts")
    wait_for(lambda: ended(runtime, "broken", 3), timeout=30, what="broken's three attempts")
    wait_for(lambda: ended(runtime, "steady", 1), timeout=30, what="steady's only attempt")

    flaky = attempts(runtime, "flaky")
    assert [(r.attempt, r.status) for r in flaky] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
        (3, RunStatus.SUCCEEDED),
    ]
    assert [r.trigger_source for r in flaky] == [
        TriggerSource.SCHEDULED,
        TriggerSource.RETRY,
        TriggerSource.RETRY,
    ]
    assert [r.retry_of for r in flaky] == [None, flaky[0].id, flaky[1].id]
    for previous, retry, backoff in ((flaky[0], flaky[1], 1.0), (flaky[1], flaky[2], 1.5)):
        assert previous.finished_at is not None and retry.started_at is not None
        assert retry.not_before is not None
        waited = (retry.not_before - previous.finished_at).total_seconds()
        assert backoff <= waited <= backoff * 1.1 + 0.001  # doubling, capped, a little jitter
        assert retry.started_at >= retry.not_before

    broken = attempts(runtime, "broken")
    assert [(r.attempt, r.status) for r in broken] == [(n, RunStatus.FAILED) for n in (1, 2, 3)]

    # One `failed` event per fire, for its last attempt; nothing for flaky (it came right, and
    # no earlier fire of it had failed, so it has not "recovered" either).
    wait_for(lambda: len(receiver.requests()) >= 2, timeout=20, what="two webhook posts")
    runtime.close(grace=1)
    bodies = [request.json for request in receiver.requests()]
    told = sorted((body["job"]["id"], body["event"], body["run"]["id"]) for body in bodies)
    assert told == sorted(
        [
            ("broken", Event.FAILED.value, broken[2].id),
            ("steady", Event.FAILED.value, attempts(runtime, "steady")[0].id),
        ]
    )
    assert next(b for b in bodies if b["job"]["id"] == "broken")["run"]["attempt"] == 3
    assert len({request.delivery for request in receiver.requests()}) == 2


def test_a_pending_retry_waits_for_a_pause_survives_a_restart_and_is_cancelled_with_its_run(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    config = (
        HEADER.replace("RECEIVER_URL", receiver.url)
        + job(
            "held",
            failing_until(tmp_path / "held.count", 2),
            # Fires once in the test; hourly, so that it can be resumed.
            f'trigger = {{ type = "interval", hours = 1, start_date = "{soon.isoformat()}" }}',
            retries=1,
            retry_backoff=1.0,
        )
        + job(
            "dropped",
            failing_until(tmp_path / "dropped.count", 2),
            once_at(soon),
            retries=1,
            retry_backoff=4.0,
        )
    )
    path = write_config(config)
    runtime = runtime_factory(path)
    runtime.start_scheduler()

    def first_failed(job_id: str) -> bool:
        runs = attempts(runtime, job_id)
        return bool(runs) and runs[0].status is RunStatus.FAILED and len(runs) == 2

    wait_for(lambda: first_failed("held"), timeout=20, what="held's first attempt to fail")
    runtime.jobs.pause("held", TESTER)
    wait_for(lambda: first_failed("dropped"), timeout=20, what="dropped's first attempt to fail")
    # Cancelling the failed attempt cancels the retry that waits out its backoff.
    first = attempts(runtime, "dropped")[0]
    runtime.runs.cancel_run(first.id, TESTER)
    retry = attempts(runtime, "dropped")[1]
    assert (retry.status, retry.retry_of) == (RunStatus.CANCELLED, first.id)

    held_retry = attempts(runtime, "held")[1]
    assert held_retry.not_before is not None
    wait_for(
        lambda: datetime.now(UTC) > held_retry.not_before + timedelta(seconds=1),  # type: ignore[operator]
        timeout=10,
        what="the held retry's backoff to pass",
    )
    assert runtime.store.get_run(held_retry.id).status is RunStatus.QUEUED  # paused: it waits

    # The node stops with the retry pending; the next one starts it once the job is resumed.
    runtime.close(grace=1)
    runtime = runtime_factory(path)
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="the scheduler to lead")
    time.sleep(1)  # a few passes of the new leader: the paused job's retry stays queued
    assert runtime.store.get_run(held_retry.id).status is RunStatus.QUEUED
    runtime.jobs.resume("held", TESTER)
    wait_for(lambda: ended(runtime, "held", 2), timeout=20, what="the held retry to run")
    done = runtime.store.get_run(held_retry.id)
    assert (done.status, done.attempt) == (RunStatus.SUCCEEDED, 2)
    assert runtime.store.get_run(attempts(runtime, "dropped")[1].id).status is (RunStatus.CANCELLED)
    runtime.close(grace=1)
    # The fire failed once and came right on its retry: nothing to tell.
    assert receiver.requests() == []


def test_a_retry_adopted_from_a_leader_gone_waits_while_its_job_is_paused(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], receiver: HttpReceiver
) -> None:
    config = HEADER.replace("RECEIVER_URL", receiver.url) + job(
        "paused",
        'command = ["true"]',
        'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }',
        retries=1,
    )
    runtime = runtime_factory(write_config(config))
    runtime.jobs.sync_declared(TESTER)
    runtime.jobs.pause("paused", TESTER)
    now = datetime.now(UTC)
    # A retry the previous leader had picked up and not started when it went.
    picked = Run(
        id="01a23a00-0000-7000-8000-00000000000c",
        job_id="paused",
        trigger_source=TriggerSource.RETRY,
        status=RunStatus.QUEUED,
        queued_at=now,
        attempt=2,
        retry_of="01a23a00-0000-7000-8000-00000000000b",
        not_before=now,
        node="gone",
        lease_token=1,
    )
    runtime.store.add_run(picked)
    runtime.start_scheduler()
    wait_for(lambda: runtime.store.get_run(picked.id).node is None, timeout=15, what="its release")
    time.sleep(1)  # more passes of the leader: paused, it stays queued and untaken
    assert runtime.store.get_run(picked.id).status is RunStatus.QUEUED
    runtime.jobs.resume("paused", TESTER)
    wait_for(
        lambda: runtime.store.get_run(picked.id).status is RunStatus.SUCCEEDED,
        timeout=15,
        what="the retry to run once the job is resumed",
    )


def test_a_run_recorded_interrupted_by_another_node_stops_before_its_retry_starts(
    write_config: WriteConfig,
    runtime_factory: Callable[[Path], Runtime],
    receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    # A node taken for lost (its heartbeat late: a long pause, a slow network) whose runs the
    # orphan check recorded interrupted, with a job that retries interruptions: its run's code
    # must stop once it hears of it, not go on beside the retry.
    marks = tmp_path / "marks"
    body = f'command = "echo $$ >> {marks}; exec sleep 30"\nshell = true'  # $$: the sleep
    config = HEADER.replace("RECEIVER_URL", receiver.url) + job(
        "long",
        body,
        once_at(datetime.now(UTC) + timedelta(seconds=1.5)),
        retries=1,
        retry_backoff=2.0,
        retry_on=["interrupted"],
    )
    runtime = runtime_factory(write_config(config))
    scheduler = runtime.start_scheduler()
    first = wait_for(
        lambda: next((r for r in attempts(runtime, "long") if r.started_at), None),
        timeout=20,
        what="the first attempt to start",
    )
    wait_for(lambda: marks.exists(), timeout=10, what="its command to start")
    interrupted = runtime.store.interrupt_runs(
        datetime.now(UTC), "its node was thought lost", nodes=[scheduler.node_id]
    )
    assert [r.id for r in interrupted] == [first.id]
    retry = wait_for(
        lambda: runtime.store.find_retry(first.id), timeout=10, what="the retry queued"
    )
    wait_for(
        lambda: runtime.store.get_run(retry.id).started_at is not None,
        timeout=20,
        what="the retry to start",
    )
    # The first attempt's command was killed before the retry started; it stays recorded
    # interrupted.
    first_pid, _ = (int(pid) for pid in marks.read_text().split())
    assert not Path(f"/proc/{first_pid}").exists()
    assert runtime.store.get_run(first.id).status is RunStatus.INTERRUPTED
    running = [r for r in attempts(runtime, "long") if r.status is RunStatus.RUNNING]
    assert [r.id for r in running] == [retry.id]
