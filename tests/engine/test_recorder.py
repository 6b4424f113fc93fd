"""The run recorder: updates of one run merge before a flush; a start alone is written running."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from gnomon.domain import RunStatus, RunUpdate
from gnomon.engine.recorder import RunRecorder, merge_updates
from gnomon.errors import StoreError
from gnomon.store.base import Store
from tests.e2e.procs import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FROM_QUEUED = frozenset({RunStatus.QUEUED})


class FakeStore:
    def __init__(self) -> None:
        self.batches: list[list[RunUpdate]] = []

    def update_runs(self, updates: Sequence[RunUpdate]) -> list[RunUpdate]:
        self.batches.append(sorted(updates, key=lambda u: u.run_id))
        return []


def recorder() -> tuple[RunRecorder, FakeStore]:
    store = FakeStore()
    return RunRecorder(cast(Store, cast(Any, store))), store


def test_updates_of_one_run_handed_over_before_a_flush_are_written_as_one() -> None:
    rec, store = recorder()
    running = RunUpdate("a", RunStatus.RUNNING, started_at=T0, node="n1", owner="n1")
    later = T0 + timedelta(seconds=3)
    rec.record(running)
    rec.record(RunUpdate("a", RunStatus.INTERRUPTED, finished_at=later, reason="stopped"))
    rec.record(RunUpdate("b", RunStatus.SUCCEEDED, finished_at=later))
    rec.flush()
    rec.flush()  # nothing left
    [[first, second]] = store.batches
    # One write standing for both moves: it applies from queued, to the node's own run.
    assert first == RunUpdate(
        "a",
        RunStatus.INTERRUPTED,
        started_at=T0,
        finished_at=later,
        node="n1",
        reason="stopped",
        expected=FROM_QUEUED,
        owner="n1",
    )
    assert second.run_id == "b"


def test_merge_takes_the_newer_fields_where_given() -> None:
    older = RunUpdate("a", RunStatus.RUNNING, started_at=T0, node="n1", output="x")
    newer = RunUpdate("a", RunStatus.FAILED, finished_at=T0, error_type="E", output="")
    assert merge_updates(older, newer) == RunUpdate(
        "a",
        RunStatus.FAILED,
        started_at=T0,
        finished_at=T0,
        error_type="E",
        output="",
        node="n1",
        expected=FROM_QUEUED,  # the chain of both moves starts where the older one did
    )


class TimedStore(FakeStore):
    """A FakeStore that notes when (time.monotonic) each batch was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written_at: list[float] = []

    def update_runs(self, updates: Sequence[RunUpdate]) -> list[RunUpdate]:
        self.written_at.append(time.monotonic())
        return super().update_runs(updates)


def test_while_held_the_recorder_flushes_only_after_max_hold() -> None:
    # Judged on the instants the store saw the writes, not on how soon this thread noticed them.
    max_hold = 2.0
    store = TimedStore()
    held = threading.Event()
    held.set()
    rec = RunRecorder(
        cast(Store, cast(Any, store)), interval=0.01, hold=held.is_set, max_hold=max_hold
    )
    before_start = time.monotonic()
    rec.start()
    try:
        rec.record(RunUpdate(run_id="r1", status=RunStatus.SUCCEEDED, finished_at=T0))
        wait_for(lambda: store.batches, timeout=10, what="the held update", every=0.01)
        assert store.batches == [
            [RunUpdate(run_id="r1", status=RunStatus.SUCCEEDED, finished_at=T0)]
        ]
        # Held back until max_hold had passed since the recorder's loop began (or last flushed,
        # which it does every max_hold while held): never before, however busy the machine.
        [first] = store.written_at
        assert first - before_start >= max_hold
        held.clear()
        rec.record(RunUpdate(run_id="r2", status=RunStatus.FAILED, finished_at=T0))
        wait_for(lambda: len(store.batches) == 2, timeout=10, what="the next update", every=0.01)
        # Not held: written at the next interval, before max_hold would have let it through.
        assert store.batches[1] == [RunUpdate(run_id="r2", status=RunStatus.FAILED, finished_at=T0)]
        assert store.written_at[1] - first < max_hold
    finally:
        rec.stop()


class PickyStore:
    """A store that rejects updates carrying a marker in their output (as PostgreSQL rejects
    text it cannot store), refuses updates of run ids starting with "gone", and can be down."""

    def __init__(self) -> None:
        self.written: dict[str, RunUpdate] = {}
        self.down = False
        self.down_after: int | None = None  # goes down after this many calls
        self.calls = 0

    def update_runs(self, updates: Sequence[RunUpdate]) -> list[RunUpdate]:
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            self.down = True
        if self.down:
            raise StoreError("the store at db failed: connection refused")
        if any(u.output == "poison" for u in updates):
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        refused = [u for u in updates if u.run_id.startswith("gone")]
        self.written.update((u.run_id, u) for u in updates if u not in refused)
        return refused


def test_one_update_the_store_rejects_does_not_hold_up_the_others() -> None:
    store = PickyStore()
    rec = RunRecorder(cast(Store, cast(Any, store)))
    updates = [
        RunUpdate(f"r{i}", RunStatus.SUCCEEDED, finished_at=T0, output="ok") for i in range(16)
    ]
    updates[11] = RunUpdate("r11", RunStatus.FAILED, finished_at=T0, output="poison")
    for update in updates:
        rec.record(update)
    rec.flush()
    assert set(store.written) == {f"r{i}" for i in range(16)}
    bare = store.written["r11"]
    assert bare.status is RunStatus.FAILED and bare.output is None
    assert bare.error_message is not None and "could not store" in bare.error_message
    assert store.calls < 16  # found by halving, not one write per update


def test_updates_wait_while_the_store_is_down_and_are_written_once_it_is_back() -> None:
    store = PickyStore()
    store.down = True
    rec = RunRecorder(cast(Store, cast(Any, store)))
    rec.record(RunUpdate("a", RunStatus.SUCCEEDED, finished_at=T0))
    rec.flush()
    rec.flush()
    assert store.written == {}
    store.down = False
    rec.flush()
    assert set(store.written) == {"a"}


def test_refused_transitions_are_reported_not_retried() -> None:
    store = PickyStore()
    refused: list[RunUpdate] = []
    rec = RunRecorder(cast(Store, cast(Any, store)), on_refused=refused.extend)
    rec.record(RunUpdate("gone-1", RunStatus.SUCCEEDED, finished_at=T0))
    rec.record(RunUpdate("b", RunStatus.SUCCEEDED, finished_at=T0))
    rec.flush()
    calls = store.calls
    rec.flush()
    assert [u.run_id for u in refused] == ["gone-1"]
    assert set(store.written) == {"b"}
    assert store.calls == calls  # nothing left to write


def test_only_the_updates_the_store_accepted_are_reported_flushed() -> None:
    # What the scheduler counts and logs as retries queued, and wakes the deliverer for.
    from gnomon.engine.recorder import CHUNK

    store = PickyStore()
    flushed: list[RunUpdate] = []
    rec = RunRecorder(cast(Store, cast(Any, store)), on_flushed=flushed.extend)
    rec.record(RunUpdate("gone-1", RunStatus.FAILED, finished_at=T0))
    for i in range(CHUNK):
        rec.record(RunUpdate(f"r{i}", RunStatus.SUCCEEDED, finished_at=T0))
    rec.record(RunUpdate("late", RunStatus.SUCCEEDED, finished_at=T0))
    store.down_after = 1
    rec.flush()  # the first chunk is written, the store goes down before the second
    assert {u.run_id for u in flushed} == {f"r{i}" for i in range(CHUNK - 1)}
    assert "gone-1" not in store.written
    store.down, store.down_after, flushed[:] = False, None, []
    rec.flush()
    assert {u.run_id for u in flushed} == {f"r{CHUNK - 1}", "late"}


def test_an_update_after_a_run_ended_is_dropped_not_merged_over_its_end() -> None:
    rec, store = recorder()
    ended = RunUpdate("a", RunStatus.SUCCEEDED, finished_at=T0, output="done")
    rec.record(ended)
    rec.record(RunUpdate("a", RunStatus.INTERRUPTED, finished_at=T0, reason="lost track"))
    rec.flush()
    assert store.batches == [[ended]]
