"""The run recorder: updates of one run merge before a flush; a start alone is written running."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from gnomon.domain import RunStatus, RunUpdate
from gnomon.engine.recorder import RunRecorder, merge_updates
from gnomon.store.base import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.batches: list[list[RunUpdate]] = []

    def update_runs(self, updates: Sequence[RunUpdate]) -> None:
        self.batches.append(sorted(updates, key=lambda u: u.run_id))


def recorder() -> tuple[RunRecorder, FakeStore]:
    store = FakeStore()
    return RunRecorder(cast(Store, cast(Any, store))), store


def test_a_run_that_ends_before_the_flush_is_written_once_with_its_end() -> None:
    rec, store = recorder()
    rec.started("a", T0, "n1")
    final = RunUpdate("a", RunStatus.SUCCEEDED, started_at=T0, finished_at=T0, node="n1")
    rec.record(final)
    rec.flush()
    assert store.batches == [[final]]


def test_a_run_still_going_at_the_flush_is_written_running() -> None:
    rec, store = recorder()
    rec.started("a", T0, "n1")
    rec.flush()
    rec.flush()  # nothing left
    assert store.batches == [[RunUpdate("a", RunStatus.RUNNING, started_at=T0, node="n1")]]


def test_an_end_without_start_fields_keeps_the_start() -> None:
    rec, store = recorder()
    rec.started("a", T0, "n1")
    later = T0 + timedelta(seconds=3)
    rec.record(RunUpdate("a", RunStatus.INTERRUPTED, finished_at=later, reason="stopped"))
    rec.flush()
    [[update]] = store.batches
    assert update == RunUpdate(
        "a", RunStatus.INTERRUPTED, started_at=T0, finished_at=later, node="n1", reason="stopped"
    )


def test_merge_takes_the_newer_fields_where_given() -> None:
    older = RunUpdate("a", RunStatus.RUNNING, started_at=T0, node="n1", output="x")
    newer = RunUpdate("a", RunStatus.FAILED, finished_at=T0, error_type="E", output="")
    assert merge_updates(older, newer) == RunUpdate(
        "a", RunStatus.FAILED, started_at=T0, finished_at=T0, error_type="E", output="", node="n1"
    )


def test_while_held_the_recorder_flushes_only_after_max_hold() -> None:
    import threading
    import time

    store = FakeStore()
    held = threading.Event()
    held.set()
    rec = RunRecorder(cast(Store, cast(Any, store)), interval=0.01, hold=held.is_set, max_hold=0.4)
    rec.start()
    try:
        started = time.monotonic()
        rec.record(RunUpdate(run_id="r1", status=RunStatus.SUCCEEDED, finished_at=T0))
        while not store.batches and time.monotonic() - started < 5:
            time.sleep(0.01)
        waited = time.monotonic() - started
        assert store.batches == [
            [RunUpdate(run_id="r1", status=RunStatus.SUCCEEDED, finished_at=T0)]
        ]
        assert 0.3 <= waited < 2.0  # held back until max_hold since the start of its loop
        held.clear()
        rec.record(RunUpdate(run_id="r2", status=RunStatus.FAILED, finished_at=T0))
        flushed_again = time.monotonic()
        while len(store.batches) < 2 and time.monotonic() - flushed_again < 5:
            time.sleep(0.01)
        assert time.monotonic() - flushed_again < 0.3  # not held: the next interval
    finally:
        rec.stop()
