"""A bounded pool of daemon worker threads that execute runs.

Not concurrent.futures: its threads are joined at interpreter exit, so one hung job would keep a
stopped scheduler from exiting. Ours are daemons; the scheduler decides how long to wait.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]


class WorkerPool:
    """`size` daemon threads taking work items from one queue, first in first out."""

    def __init__(self, size: int, name: str = "gnomon-worker") -> None:
        self.size = size
        self._name = name
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        for index in range(self.size):
            thread = threading.Thread(target=self._work, name=f"{self._name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, work: Work) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(work)

    @property
    def depth(self) -> int:
        """Work items submitted and not yet finished (queued plus executing)."""
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted item has finished; False when `timeout` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self) -> None:
        """Let idle threads exit; threads still busy are daemons and do not block exit."""
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            try:
                work()
            except Exception:
                log.exception("a worker item raised; the pool continues")
            finally:
                with self._idle:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()
