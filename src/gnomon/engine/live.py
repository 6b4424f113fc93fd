"""Live output: what a run has printed so far, written to its record while it runs, so the
console and the API show it before the run ends.

A thread of its own looks once a second at the runs executing here for at least that long and
writes the output of those that printed something since its last look (at most MAX_PER_PASS a
pass), each as a guarded write that applies only while the run is
`running` on this node: the final status, written with the final output, is never overwritten.
Runs that end within a second (nearly all, at thousands of fires a second) cost nothing here.
The same head and tail cap applies as to the final output (OutputBuffer).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gnomon.engine.output import OutputBuffer
from gnomon.store.base import Store

log = logging.getLogger(__name__)

#: Seconds between two looks; a run's output reaches the store at most this often.
INTERVAL = 1.0
#: The most runs whose output one look writes.
MAX_PER_PASS = 200


class LiveOutput:
    """Writes the output of long runs to the store as it grows."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        outputs: Callable[[float], list[tuple[str, OutputBuffer]]],
        interval: float = INTERVAL,
    ) -> None:
        """`outputs(seconds)`: the buffers of the runs executing here for that long, by id."""
        self._store = store
        self._node_id = node_id
        self._outputs = outputs
        self._interval = interval
        self._written: dict[str, int] = {}  # run id → bytes written when its output was stored
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="gnomon-live-output", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.publish()
            except Exception:  # the thread must outlive any one failure (a store outage)
                log.exception("writing the output of running runs failed; trying again")

    def publish(self) -> int:
        """One look: write the grown output of the runs that have run for an interval. Returns
        how many runs' output was written."""
        current = self._outputs(self._interval)
        written = self._written
        grown = [
            (run_id, buffer, total)
            for run_id, buffer in current
            if (total := buffer.total_bytes) != written.get(run_id, 0)
        ][:MAX_PER_PASS]
        # Forget the runs that ended.
        alive = {run_id for run_id, _ in current}
        for run_id in [r for r in written if r not in alive]:
            del written[run_id]
        if not grown:
            return 0
        self._store.write_live_output(
            self._node_id, [(run_id, buffer.text()) for run_id, buffer, _ in grown]
        )
        for run_id, _, total in grown:
            written[run_id] = total
        return len(grown)
