"""A worker's run starts, group-committed: every Celery task execution hands its run id to one
committer thread and waits for the store's verdict on it.

A worker runs a run's code only once its start (queued → running on this worker) is committed:
that is what makes a message delivered twice, or a run the leader has closed, never run twice.
Committing one transaction per message made a worker with many runs a second wait on the
store for each; the committer instead takes every start waiting (up to MAX_BATCH) and judges
and moves them all in one transaction (Store.start_on_workers), whose verdicts are each run's
own, exactly as one at a time. While one transaction commits, the next batch gathers, so a
lone run waits for one commit, as before, and many wait for few.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from gnomon.domain import utcnow
from gnomon.store.base import Store, WorkerStart

log = logging.getLogger(__name__)

#: The most starts one transaction judges and moves.
MAX_BATCH = 200


class _Request:
    """One task execution waiting for its run's verdict."""

    __slots__ = ("done", "error", "run_id", "verdict")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.done = threading.Event()
        self.verdict: WorkerStart | None = None
        self.error: BaseException | None = None


class StartCommitter:
    """Commits the starts of the runs this worker was sent, many per transaction, from a thread
    of its own; `start()` it before the first request, `stop()` after the last."""

    def __init__(
        self,
        store: Store,
        worker: str,
        *,
        live_within: float,
        clock: Callable[[], datetime] = utcnow,
        max_batch: int = MAX_BATCH,
        before: Callable[[], None] = lambda: None,
    ) -> None:
        """`before()`: called before each batch is committed (the worker writes the ends of
        its runs handed over so far, so that a run ended here no longer holds a
        max_instances slot when the next one is judged)."""
        self._before = before
        self._store = store
        self._worker = worker
        self._live_within = live_within
        self._clock = clock
        self._max_batch = max_batch
        self._cond = threading.Condition(threading.Lock())
        self._waiting: list[_Request] = []
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gnomon-worker-starts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit the starts still waiting, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def request(self, run_id: str) -> WorkerStart:
        """The store's verdict on starting run `run_id` here, once committed (see
        Store.start_on_worker). Raises what the store raised (StoreError: unreachable), for
        every start of the batch alike: none of them was committed."""
        request = _Request(run_id)
        with self._cond:
            queued = not self._stopping and self._thread is not None
            if queued:
                self._waiting.append(request)
                self._cond.notify()
        if not queued:  # not running (yet, or any more): commit it alone, in this thread
            self._commit([request])
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.verdict is not None  # set with done, unless error is
        return request.verdict

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting:
                    return  # stopping, and nothing left to commit
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
            self._commit(batch)

    def _commit(self, batch: list[_Request]) -> None:
        try:
            self._before()
            verdicts = self._store.start_on_workers(
                [request.run_id for request in batch],
                self._worker,
                self._clock(),
                live_within=self._live_within,
            )
        except BaseException as exc:  # each waiting task gets it, and decides
            for request in batch:
                request.error = exc
                request.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        for request, verdict in zip(batch, verdicts, strict=True):
            request.verdict = verdict
            request.done.set()
