"""Retries with real `gnomon scheduler` processes and a real webhook receiver: a job failing twice
then succeeding leaves three chained, backed-off attempts and tells nobody; a job failing every
time tells `failed` once, for its last attempt; a retry queued when its leader is killed runs once,
on the next leader, after its backoff."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.e2e.procs import SchedulerProcess, wait_for
from tests.e2e.test_multinode import Cluster
from tests.engine.notify.receivers import HttpReceiver
from tests.engine.test_scheduler_retries import HEADER, attempts, ended, failing_until, job, once_at

#: The failover test's lease time: short, so that the next leader leads well before the
#: retry's backoff ends and must itself wait it out.
FAILOVER_LEASE_TTL = 3.0
FAILOVER_BACKOFF = 6.0


def test_a_scheduler_process_retries_with_backoff_and_tells_only_the_last_outcome(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime], tmp_path: Path
) -> None:
    with HttpReceiver().start() as receiver:
        soon = datetime.now(UTC) + timedelta(seconds=4)  # after the process has started
        config = (
            HEADER.replace("RECEIVER_URL", receiver.url)
            + job(
                "flaky",
                failing_until(tmp_path / "flaky.count", 3),
                once_at(soon),
                retries=3,
                retry_backoff=1.0,
            )
            + job("broken", 'command = ["false"]', once_at(soon), retries=2, retry_backoff=0.5)
        )
        path = write_config(config)
        runtime = runtime_factory(path)
        scheduler = SchedulerProcess(path, tmp_path / "scheduler.log")
        try:
            wait_for(runtime.jobs.scheduler_running, timeout=20, what="the scheduler to lead")
            wait_for(lambda: ended(runtime, "flaky", 3), timeout=40, what="flaky's attempts")
            wait_for(lambda: ended(runtime, "broken", 3), timeout=40, what="broken's attempts")
            wait_for(lambda: receiver.requests(), timeout=20, what="broken's failed event")
        finally:
            scheduler.stop()
        flaky = attempts(runtime, "flaky")
        assert [(r.attempt, r.status) for r in flaky] == [
            (1, RunStatus.FAILED),
            (2, RunStatus.FAILED),
            (3, RunStatus.SUCCEEDED),
        ]
        assert [r.retry_of for r in flaky] == [None, flaky[0].id, flaky[1].id]
        for previous, retry in itertools.pairwise(flaky):
            assert previous.finished_at is not None and retry.started_at is not None
            assert (retry.started_at - previous.finished_at).total_seconds() >= 1.0
        broken = attempts(runtime, "broken")
        assert [r.status for r in broken] == [RunStatus.FAILED] * 3
        told = [
            (r.json["job"]["id"], r.json["event"], r.json["run"]["id"]) for r in receiver.requests()
        ]
        assert told == [("broken", "failed", broken[2].id)]
        log = scheduler.output()
        assert "will retry in" in log and "as attempt 2" in log


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("processes")
def test_a_retry_queued_when_its_leader_is_killed_runs_once_on_the_next_after_its_backoff(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "flaky.count"
    with fresh_database("gnomon_retry_failover") as url:
        cluster = Cluster(url, tmp_path)
        cluster.config.write_text(
            f'[store]\nurl = "{url}"\n\n'
            f'[scheduler]\ntimezone = "UTC"\nlease_ttl = {FAILOVER_LEASE_TTL}\n'
            "poll_interval = 0.2\nshutdown_grace = 1\n\n"
            '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n'
            + job(
                "flaky",
                failing_until(counter, 2),
                'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }',
                retries=1,
                retry_backoff=FAILOVER_BACKOFF,
            ),
            encoding="utf-8",
        )
        runtime = Runtime.from_config_file(cluster.config, env={})
        runtime.prepare_store()
        try:
            cluster.start(2)
            nodes = cluster.node_ids()
            old = wait_for(cluster.leader, timeout=20, what="a leader")
            first = runtime.jobs.run_now("flaky", Actor("tester"))

            def retry_queued() -> Run | None:
                retry = runtime.store.find_retry(first.id)
                return retry if retry is not None and retry.status is RunStatus.QUEUED else None

            def another_leader() -> str | None:
                leader = cluster.leader()
                return None if leader == old else leader

            queued = wait_for(retry_queued, timeout=15, what="the first attempt's retry")
            assert cluster.leader() == old
            nodes[old].kill()
            killed_at = runtime.store.current_time()
            new = wait_for(
                another_leader, timeout=FAILOVER_LEASE_TTL * 3, what="the other node to lead"
            )
            took_over = runtime.store.current_time()
            assert queued.not_before is not None and took_over < queued.not_before, (
                "the next leader must lead before the backoff ends, or this proves nothing"
            )
            wait_for(lambda: ended(runtime, "flaky", 2), timeout=20, what="the retry to end")
            cluster.close()  # the survivor stops: nothing more can run
            found = attempts(runtime, "flaky")
        finally:
            cluster.close()
            runtime.close(grace=1)
    assert [run.attempt for run in found] == [1, 2]  # no attempt twice, none more
    failed, retried = found
    assert (failed.status, failed.node) == (RunStatus.FAILED, old)
    assert (retried.id, retried.attempt, retried.retry_of) == (queued.id, 2, first.id)
    assert (retried.trigger_source, retried.status) == (TriggerSource.RETRY, RunStatus.SUCCEEDED)
    assert retried.node == new != old
    assert failed.finished_at is not None and retried.started_at is not None
    assert retried.not_before is not None and retried.started_at >= retried.not_before
    waited = (retried.started_at - failed.finished_at).total_seconds()
    print(
        f"\nretry failover: next leader {(took_over - killed_at).total_seconds():.2f}s after "
        f"SIGKILL; retry started {waited:.2f}s after the failure (backoff {FAILOVER_BACKOFF}s "
        f"+ jitter: {(queued.not_before - failed.finished_at).total_seconds():.2f}s)"
    )
    assert waited >= FAILOVER_BACKOFF
    # The command ran twice in all: the failed attempt and its one retry.
    assert counter.read_text().strip() == "2"
