"""A bounded pool of daemon worker threads that execute runs, now or at a given instant.

Not concurrent.futures: its threads are joined at interpreter exit, so one hung job would keep a
stopped scheduler from exiting. Ours are daemons; the scheduler decides how long to wait.

Work due later (fires claimed shortly before their time) waits in a heap, and the workers
themselves wait for it, leader/follower style as in Java's DelayQueue: one idle worker sleeps
until the earliest item is due and runs it straight away, the others sleep until work arrives.
A run thus starts in the thread that woke for it, with no hand-off from a timer thread, and the
scheduler loop may be busy writing the next claims to the store meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

Work = Callable[[], None]


class WorkerPool:
    """`size` daemon threads running work items: ready ones first in first out, timed ones at
    their instant (on the time.monotonic clock)."""

    def __init__(self, size: int, name: str = "gnomon-worker") -> None:
        self.size = size
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)  # workers wait here for work
        self._idle = threading.Condition(self._lock)  # wait_idle waits here
        self._ready: deque[Work] = deque()
        self._timed: list[tuple[float, int, Work]] = []
        self._order = itertools.count()  # ties on the instant keep submission order
        self._leader: object | None = None  # the worker sleeping until the heap's head is due
        self._pending = 0
        self._closed = False

    def start(self) -> None:
        for index in range(self.size):
            thread = threading.Thread(target=self._work, name=f"{self._name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def dead_threads(self) -> int:
        """Worker threads that have ended although the pool is open."""
        if self._closed:
            return 0
        return sum(1 for thread in self._threads if not thread.is_alive())

    def revive(self) -> int:
        """Replace ended worker threads; how many were replaced."""
        with self._lock:
            if self._closed:
                return 0
            dead = [i for i, thread in enumerate(self._threads) if not thread.is_alive()]
            for index in dead:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{index}", daemon=True
                )
                thread.start()
                self._threads[index] = thread
        return len(dead)

    def submit(self, work: Work, at: float | None = None) -> None:
        """Run `work` as soon as a worker is free, or not before `at` (time.monotonic())."""
        self.submit_all([(work, at)])

    def submit_all(self, items: Iterable[tuple[Work, float | None]]) -> None:
        """`submit` each (work, at), taking the lock once: the scheduler hands over a batch of
        claimed fires while workers are taking work, and each wait for the lock is a wait for
        the GIL afterwards."""
        items = list(items)
        if not items:
            return
        with self._lock:
            timed, earliest = self._timed, self._timed[0][0] if self._timed else None
            ready = 0
            for work, at in items:
                if at is None:
                    self._ready.append(work)
                    ready += 1
                else:
                    heapq.heappush(timed, (at, next(self._order), work))
            self._pending += len(items)
            wake = ready
            if timed and timed[0][0] != earliest:
                self._leader = None  # a new earliest item: whoever wakes times it afresh
                wake += 1
            if wake:
                self._available.notify(wake)

    @property
    def depth(self) -> int:
        """Work items submitted and not yet finished (waiting, timed or executing)."""
        return self._pending  # an int read is atomic; no lock on this per-loop-pass read

    def behind(self) -> bool:
        """Whether some work is due that no worker has taken yet."""
        with self._lock:
            return bool(self._ready) or bool(self._timed and self._timed[0][0] <= time.monotonic())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted item has finished; False when `timeout` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self) -> None:
        """Let idle threads exit (dropping timed items not yet due); busy threads are daemons
        and do not block exit."""
        with self._lock:
            self._closed = True
            self._available.notify_all()

    def _take(self, finished: bool) -> Work | None:
        """The next item to run, waiting for it; `finished`: the caller's previous item ended
        (counted here, under the same lock acquisition as the taking)."""
        with self._lock:
            if finished:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()
            while True:
                if self._ready:
                    work = self._ready.popleft()
                    break
                if self._closed:
                    return None
                if not self._timed:
                    self._available.wait()
                    continue
                delay = self._timed[0][0] - time.monotonic()
                if delay <= 0:
                    work = heapq.heappop(self._timed)[2]
                    break
                if self._leader is not None:
                    self._available.wait()
                    continue
                me = self._leader = object()
                try:
                    self._available.wait(delay)
                finally:
                    if self._leader is me:
                        self._leader = None
            if self._leader is None and self._timed:
                self._available.notify()  # someone else takes over waiting for the next one
            return work

    def _work(self) -> None:
        finished = False
        while True:
            work = self._take(finished)
            if work is None:
                return
            try:
                work()
            except BaseException:
                # Whatever a work item raises (even KeyboardInterrupt or SystemExit from a job)
                # must not take a worker away for good: the pool would shrink run by run.
                log.exception("a worker item raised; the pool continues")
            finished = True
