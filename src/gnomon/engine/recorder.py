"""Writes run lifecycle updates to the store in batches from one thread.

Workers never wait on the database: they hand updates to the recorder, which merges updates of the
same run and flushes them together. (A run is moved to running by the store before it starts,
see starts.py; what workers hand over is how runs end.) On SQLite one writer thread also avoids
lock contention between workers.

Workers do not take a lock either: they append to a deque (atomic), and the merging is done by
the flushing thread. With a shared lock, thousands of runs a second made workers queue for it,
and each blocked worker gave up the GIL and waited up to a switch interval to get it back.

Every update is a guarded transition in the store: one the store refuses (the run already ended,
or belongs to another node now) is logged and counted, never retried. Nothing poisons the queue:
while the store is unreachable everything waits and is retried with a growing pause; a batch the
store rejects for its content is split until the offending updates are found, and those are
written again without their output, traceback and message (saying so), so every run still gets
its final status.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from gnomon.domain import RunUpdate
from gnomon.errors import StoreError
from gnomon.store.base import Store

log = logging.getLogger(__name__)


_MERGED = tuple(
    f.name
    for f in dataclasses.fields(RunUpdate)
    if f.name not in ("run_id", "status", "expected", "owner")
)
#: Updates per transaction: between two, runs waiting to start and fire claims get the store's
#: write lock (one flush of thousands of updates held it for tens of milliseconds).
CHUNK = 500
#: The pause before writing again after the store failed, doubling up to the longest.
RETRY_FIRST = 0.2
RETRY_LONGEST = 5.0


def merge_updates(older: RunUpdate, newer: RunUpdate) -> RunUpdate:
    """One update with newer's fields where given, older's elsewhere. It is the chain of both
    transitions, so it applies from the statuses older applies from."""
    # Spelled out rather than dataclasses.replace over fields(): this runs for nearly every run
    # (its `running` update is usually still pending when it finishes), several times cheaper.
    values = {}
    for name in _MERGED:
        value = getattr(newer, name)
        values[name] = getattr(older, name) if value is None else value
    return RunUpdate(
        run_id=newer.run_id,
        status=newer.status,
        expected=older.from_statuses,
        owner=newer.owner or older.owner,
        **values,
    )


def chain(older: RunUpdate, newer: RunUpdate) -> RunUpdate:
    """Both updates of one run as one write; once `older` ends the run, `newer` could only be
    a move out of a final status, which the store would refuse: it is dropped (and logged)."""
    if older.status.is_final:
        log.warning(
            "run %s: dropping the update to %s that came after it ended %s",
            older.run_id,
            newer.status.value,
            older.status.value,
        )
        return older
    return merge_updates(older, newer)


def _without_content(update: RunUpdate, problem: Exception) -> RunUpdate:
    """The update with its large and free-text fields replaced by a note of why."""
    return dataclasses.replace(
        update,
        output=None,
        traceback=None,
        error_message=f"gnomon could not store this run's output and error text: {problem}",
    )


class RunRecorder:
    """Buffers RunUpdates and writes them with `Store.update_runs` every `interval` seconds."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.05,
        on_flushed: Callable[[list[RunUpdate]], None] | None = None,
        on_refused: Callable[[list[RunUpdate]], None] | None = None,
        hold: Callable[[], bool] | None = None,
        max_hold: float = 0.5,
    ) -> None:
        """`on_flushed(updates)`: after a flush, the updates the store accepted (not those it
        refused, nor those kept to write again). `on_refused(updates)`: those it refused.
        `hold()`: true while flushing should wait (the workers have runs to start), for at
        most `max_hold` seconds after the previous flush."""
        self._store = store
        self._interval = interval
        self._hold = hold
        self._max_hold = max_hold
        self._on_flushed = on_flushed
        self._on_refused = on_refused
        self._retry_wait = 0.0  # after a failed write: how long until the next try
        self._retry_at = 0.0  # on time.monotonic()
        # What workers hand over, in order.
        self._inbox: deque[RunUpdate] = deque()
        # Merged by the flushing thread (under _lock): the updates to write, one per run.
        self._pending: dict[str, RunUpdate] = {}
        self._lock = threading.Lock()
        # One flush at a time: a flush that returns has written what was handed over before it
        # began, even when the recorder's own flush was writing part of it then.
        self._flushing = threading.Lock()
        self._writing: set[str] = set()  # runs of the batch being written now
        self._refused_now: set[str] = set()  # runs whose update the store refused this flush
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gnomon-recorder", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether its thread runs (after start(), until stop())."""
        return self._thread is not None and self._thread.is_alive()

    def record(self, update: RunUpdate) -> None:
        self._inbox.append(update)

    def _merge_inbox(self) -> None:
        """Fold what workers handed over into _pending (caller holds _lock)."""
        inbox, pending = self._inbox, self._pending
        while True:
            try:
                update = inbox.popleft()
            except IndexError:
                return
            previous = pending.get(update.run_id)
            pending[update.run_id] = chain(previous, update) if previous else update

    def pending_ids(self) -> set[str]:
        """The runs with updates handed over and not yet written (or being written now)."""
        with self._lock:
            self._merge_inbox()
            return set(self._pending) | self._writing

    def flush(self) -> None:
        """Write everything handed over until now (also called by stop); what the store
        failed to take is kept for the next flush."""
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            self._merge_inbox()
            batch = list(self._pending.values())
            self._pending.clear()
            self._writing = {update.run_id for update in batch}
        if not batch:
            return
        self._refused_now = set()
        unwritten: list[RunUpdate] = []
        try:
            for start in range(0, len(batch), CHUNK):
                if start:
                    time.sleep(0)  # let a start or a claim waiting for the write lock in
                chunk = batch[start : start + CHUNK]
                try:
                    unwritten += self._write(chunk)
                except Exception:  # never lose a record to a bug here: keep it for later
                    log.exception("writing %d run update(s) failed unexpectedly", len(chunk))
                    unwritten += chunk
        finally:
            with self._lock:
                self._writing = set()
        if unwritten:
            # Keep them for the next flush rather than lose a run record.
            self._retry_wait = min(RETRY_LONGEST, max(RETRY_FIRST, self._retry_wait * 2))
            self._retry_at = time.monotonic() + self._retry_wait
            with self._lock:
                for update in unwritten:
                    newer = self._pending.get(update.run_id)
                    self._pending[update.run_id] = chain(update, newer) if newer else update
        else:
            self._retry_wait = 0.0
        if self._on_flushed:
            left = self._refused_now | {update.run_id for update in unwritten}
            written = [update for update in batch if update.run_id not in left]
            if written:
                self._on_flushed(written)

    def _write(self, batch: list[RunUpdate]) -> list[RunUpdate]:
        """Write `batch`; returns what could not be written because the store failed."""
        try:
            refused = self._store.update_runs(batch)
        except StoreError:
            log.exception("writing %d run update(s) failed; will try again", len(batch))
            return batch
        except Exception as exc:
            return self._isolate(batch, exc)
        if refused:
            self._refused(refused)
        return []

    def _isolate(self, batch: list[RunUpdate], problem: Exception) -> list[RunUpdate]:
        """The store rejected `batch` for what it holds: write it in halves until the updates
        at fault are alone, then write those without their content."""
        if len(batch) > 1:
            middle = len(batch) // 2
            return self._write(batch[:middle]) + self._write(batch[middle:])
        (update,) = batch
        log.error(
            "the store rejected the update of run %s to %s (%s); writing it without its output",
            update.run_id,
            update.status.value,
            problem,
        )
        bare = _without_content(update, problem)
        try:
            refused = self._store.update_runs([bare])
        except Exception:
            log.exception("writing run %s failed again; will try again", update.run_id)
            return [bare]
        if refused:
            self._refused(refused)
        return []

    def _refused(self, refused: list[RunUpdate]) -> None:
        self._refused_now.update(update.run_id for update in refused)
        shown = ", ".join(f"{u.run_id} → {u.status.value}" for u in refused[:5])
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        log.warning(
            "the store refused %d run transition(s) (the run had already moved on or belongs "
            "to another node): %s%s",
            len(refused),
            shown,
            more,
        )
        if self._on_refused:
            self._on_refused(refused)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.flush()

    def _loop(self) -> None:
        flushed = time.monotonic()
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            now = time.monotonic()
            if now < self._retry_at:
                continue  # the store failed: wait before trying again
            recent = now - flushed < self._max_hold
            if recent and self._hold is not None and self._hold():
                continue  # starting runs on time comes first; their records can wait
            try:
                self.flush()
            except Exception:  # the recorder thread must outlive any one failure
                log.exception("the run recorder failed a flush; it goes on")
            flushed = time.monotonic()
