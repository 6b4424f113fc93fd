"""Starting runs: each moves queued → running in the store, fenced by the lease, before it runs.

A node may start a run only while it holds the lease its run was claimed under, and the proof
must be durable before the job's code runs: otherwise a node frozen between starting a run and
recording it would leave the run `queued`, and the next leader would adopt and run it again.
So a worker about to start a run asks the gate, which moves it to running in a transaction that
also checks the lease (Store.start_runs) and judges max_instances across every node.

One transaction per run would cost too much at thousands of fires a second, so starts are
batched: the worker that finds no start in flight commits its own run together with every other
run expected within WINDOW of now; the workers of those runs then find their verdict waiting and
start without a round trip. Before a run joins a batch, `may_start` decides whether it should
start at all (a fire claimed ahead whose job changed, or one past its grace, is recorded and left
out), exactly as its own worker would.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from gnomon.domain import Lease
from gnomon.engine.observe import EngineMetricsProtocol
from gnomon.store.base import LeaseLost, RunStart, Store

log = logging.getLogger(__name__)

#: Runs expected to start within this many seconds of a batch's first one join it.
WINDOW = 0.005
#: The most runs one start transaction moves.
MAX_BATCH = 500


class StartGate:
    """Moves runs queued → running in the store before their workers run them."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        lease: Callable[[], Lease | None],
        clock: Callable[[], datetime],
        may_start: Callable[[str], bool],
        on_lease_lost: Callable[[], None],
        metrics: EngineMetricsProtocol,
    ) -> None:
        """`may_start(run_id)`: whether the run should still start (False: it has recorded why
        not). `on_lease_lost`: the store refused a start because the lease is gone."""
        self._store = store
        self._node_id = node_id
        self._lease = lease
        self._clock = clock
        self._may_start = may_start
        self._on_lease_lost = on_lease_lost
        self._metrics = metrics
        self._cond = threading.Condition(threading.Lock())
        self._expected: dict[str, RunStart] = {}
        self._due: list[tuple[float, int, str]] = []  # (time.monotonic() due, order, run id)
        self._order = itertools.count()
        self._verdicts: dict[str, bool] = {}
        self._busy = False

    def expect(self, starts: Iterable[tuple[RunStart, float]]) -> None:
        """Runs that will ask to start, each at about the given time.monotonic() instant."""
        with self._cond:
            for start, due in starts:
                self._expected[start.run_id] = start
                heapq.heappush(self._due, (due, next(self._order), start.run_id))

    def forget(self, run_id: str) -> None:
        """The run will not ask after all (its worker decided otherwise)."""
        with self._cond:
            self._expected.pop(run_id, None)
            self._verdicts.pop(run_id, None)

    def admit(self, run_id: str) -> bool:
        """True once the run is `running` in the store and may run; False when it must not
        run (not due any more, over max_instances, the lease lost, or no longer this node's)."""
        with self._cond:
            while True:
                verdict = self._verdicts.pop(run_id, None)
                if verdict is not None:
                    return verdict
                if not self._busy:
                    break
                self._cond.wait()
            self._busy = True
            batch = self._take_batch(run_id)
        verdicts: dict[str, bool] = {}
        try:
            verdicts = self._commit(batch)
        finally:
            with self._cond:
                self._busy = False
                mine = verdicts.pop(run_id, False)
                self._verdicts.update(verdicts)
                self._cond.notify_all()
        return mine

    def _take_batch(self, run_id: str) -> list[RunStart]:
        """This run and every expected run due within WINDOW (caller holds the lock)."""
        first = self._expected.pop(run_id, None)
        batch = [first] if first is not None else []
        horizon = time.monotonic() + WINDOW
        due, expected = self._due, self._expected
        while due and due[0][0] <= horizon and len(batch) < MAX_BATCH:
            other = expected.pop(heapq.heappop(due)[2], None)
            if other is not None:
                batch.append(other)
        if not expected:
            due.clear()
        return batch

    def _commit(self, batch: list[RunStart]) -> dict[str, bool]:
        verdicts = {start.run_id: False for start in batch}
        wanted = [start for start in batch if self._may_start(start.run_id)]
        if not wanted:
            return verdicts
        lease = self._lease()
        if lease is None:
            # Not leader (any more): these stay queued for the next leader to adopt.
            log.info("not starting %d run(s): this node does not hold the lease", len(wanted))
            return verdicts
        try:
            result = self._store.start_runs(wanted, self._node_id, lease, self._clock())
        except LeaseLost:
            log.warning("lease lost; %d run(s) left for the next leader", len(wanted))
            self._on_lease_lost()
            return verdicts
        except Exception:
            log.exception("could not start %d run(s); they stay queued", len(wanted))
            return verdicts
        for start in wanted:
            if start.run_id in result.started:
                verdicts[start.run_id] = True
            elif start.run_id in result.skipped:
                self._metrics.skipped(start.job_id, 1)
        refused = len(wanted) - len(result.started) - len(result.skipped)
        if refused:
            log.warning("%d run(s) were no longer this node's to start", refused)
            self._metrics.refused("running", refused)
        return verdicts
