"""Starting runs: each moves queued → running in the store, fenced by the lease, before it runs.

A node may start a run only while it holds the lease, and the proof must be durable before the
job's code runs: otherwise a node frozen between starting a run and recording it would leave it
`queued`, and the next leader would adopt and run it a second time. So runs are moved to running
by Store.start_runs, in a transaction that also checks the lease and judges max_instances
across every node, and a worker runs a run's code only once that transaction said yes.

One transaction per run would cost too much at thousands of fires a second, and a worker waiting
for one would start its run late. So the gate has a thread of its own that commits the starts of
every run due within LEAD ahead of time, in one transaction, and only then hands the runs it
started to the worker pool, timed for their instant: workers never wait for the store, and a
run starts in the thread that wakes for it, as before. The cost of committing ahead: a node that
freezes or loses the lease in those last LEAD seconds leaves runs `running` that never ran; its
worker (or, if the node is gone, the orphan check) records them `interrupted`, saying so.
Nothing runs twice.

A fire whose claim itself comes within AHEAD of its time (or late), as most do, is moved to
running by the claim's own transaction instead (Scheduler._claim, Store.claim_fires with
FireClaim.start): same fence, same judgement, one write fewer.

Before a run joins a batch, `may_start` decides whether it should start at all (a fire claimed
ahead whose job changed, or one past its grace, is recorded and left out). A run whose job has a
run still going on this node is committed at its time rather than ahead, so that max_instances
judges it when it is due, as it would have been without the lead.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime

from gnomon.domain import Lease, Run
from gnomon.engine.observe import EngineMetricsProtocol
from gnomon.errors import StoreError
from gnomon.store.base import LeaseLost, RunStart, Store

log = logging.getLogger(__name__)

#: How long before a run is due its start is committed, at the latest: room for a transaction
#: that waits behind others for the store's write lock.
LEAD = 0.15
#: A commit also takes the runs due up to this much later, so that starts are written about ten
#: times a second however the fire times are spread (at 10,000 fires a second, ~1,000 a time).
SPAN = 0.1
#: The most ahead of its time a run's start is committed (by the gate, or by a claim that
#: starts it).
AHEAD = LEAD + SPAN
#: How long runs wait before their start is tried again after the store failed.
RETRY = 0.5
#: The most runs one start transaction moves.
MAX_BATCH = 1000


class StartGate:
    """Moves runs queued → running in the store just ahead of their time, then hands them to
    the workers."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        lease: Callable[[], Lease | None],
        clock: Callable[[], datetime],
        may_start: Callable[[str, datetime], bool],
        running_here: Callable[[], dict[str, int]],
        dispatch: Callable[[list[tuple[str, float]], list[str]], None],
        on_lease_lost: Callable[[], None],
        metrics: EngineMetricsProtocol,
        starting: AbstractContextManager[object],
        live_within: float = 10.0,
        run_of: Callable[[str], Run | None] = lambda run_id: None,
    ) -> None:
        """`may_start(run_id, now)`: whether the run should still start (False: it has recorded why
        not). `running_here()`: this node's runs executing now, per job. `dispatch(started,
        dropped)`: the runs now running, each with its time.monotonic() instant, to hand to
        workers, and the runs that will not start here. `on_lease_lost`: the store refused a
        start because the lease is gone. `starting`: held while runs are judged,
        started and handed over, by this and by whatever else starts runs on this node.
        `run_of(run_id)`: the run, for the metrics hooks (None: not known)."""
        self._store = store
        self._node_id = node_id
        self._lease = lease
        self._clock = clock
        self._may_start = may_start
        self._running_here = running_here
        self._dispatch = dispatch
        self._on_lease_lost = on_lease_lost
        self._metrics = metrics
        self._starting = starting
        self._live_within = live_within  # other nodes' runs count while heard from this recently
        self._run_of = run_of
        self._cond = threading.Condition(threading.Lock())
        self._expected: dict[str, RunStart] = {}
        # (time.monotonic() to commit at, order, run id, instant due): LEAD before it is due,
        # or at its time for a job with a run going here.
        self._due: list[tuple[float, int, str, float]] = []
        self._order = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gnomon-starts", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether its thread runs (after start(), until stop())."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop starting runs; those still expected are dropped (left queued in the store for
        the next leader to adopt)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._cond:
            dropped = list(self._expected)
            self._expected.clear()
            self._due.clear()
        if dropped:
            self._dispatch([], dropped)

    def expect(self, starts: Iterable[tuple[RunStart, float]]) -> None:
        """Runs to start, each at its time.monotonic() instant (handed to `dispatch`)."""
        with self._cond:
            earliest = self._due[0][0] if self._due else None
            for start, due in starts:
                self._expected[start.run_id] = start
                heapq.heappush(self._due, (due - LEAD, next(self._order), start.run_id, due))
            if self._due and self._due[0][0] != earliest:
                self._cond.notify_all()  # the gate's thread times its next batch afresh

    def _loop(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
            if batch is None:
                return
            # One start at a time on this node (the scheduler's claims that start runs take the
            # same lock): each judges max_instances knowing every run the other started here.
            with self._starting:
                self._start(batch)

    def _start(self, batch: list[tuple[RunStart, float]]) -> None:
        started: set[str] = set()
        try:
            started = self._commit([start for start, _ in batch])
        except StoreError:
            # The store is unreachable: the runs wait for it, as they would for a worker,
            # and are judged again (their grace, the lease) when they are retried.
            log.exception("could not start %d run(s); trying again shortly", len(batch))
            self._retry(batch)
            return
        except Exception:  # never let one bad batch stop every later start
            log.exception("starting %d run(s) failed; they stay queued", len(batch))
        self._dispatch(
            [(start.run_id, due) for start, due in batch if start.run_id in started],
            [start.run_id for start, _ in batch if start.run_id not in started],
        )

    def _next_batch(self) -> list[tuple[RunStart, float]] | None:
        """Wait until some expected run is due to be committed; take those (caller holds the
        lock). None once stopping."""
        due, expected = self._due, self._expected
        while True:
            if self._stopping:
                return None
            while due and due[0][2] not in expected:
                heapq.heappop(due)  # dropped meanwhile
            if due:
                wait = due[0][0] - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(wait)
            else:
                self._cond.wait()
        now = time.monotonic()
        busy = self._running_here()
        batch: list[tuple[RunStart, float]] = []
        later: list[tuple[float, int, str, float]] = []
        while due and due[0][0] <= now + SPAN and len(batch) < MAX_BATCH:
            entry = heapq.heappop(due)
            start = expected.get(entry[2])
            if start is None:
                continue
            if entry[3] > now and busy.get(start.job_id):
                later.append((entry[3], entry[1], entry[2], entry[3]))  # judged at its time
                continue
            del expected[entry[2]]
            batch.append((start, entry[3]))
        for entry in later:
            heapq.heappush(due, entry)
        return batch

    def _retry(self, batch: list[tuple[RunStart, float]]) -> None:
        with self._cond:
            retry_at = time.monotonic() + RETRY
            for start, due in batch:
                self._expected[start.run_id] = start
                heapq.heappush(self._due, (retry_at, next(self._order), start.run_id, due))
            self._cond.wait(RETRY)

    def _should_start(self, run_id: str, now: datetime) -> bool:
        try:
            return self._may_start(run_id, now)
        except Exception:  # one run's failing check must not hold up the others
            log.exception("could not judge whether run %s should start; not starting it", run_id)
            return False

    def _commit(self, batch: list[RunStart]) -> set[str]:
        """Move the batch's runs that should still start to running; the ids that were."""
        now = self._clock()
        busy = self._running_here()  # under the start lock: exact
        wanted = [
            replace(start, running_here=busy[start.job_id]) if busy.get(start.job_id) else start
            for start in batch
            if self._should_start(start.run_id, now)
        ]
        if not wanted:
            return set()
        lease = self._lease()
        if lease is None:
            # Not leader (any more): these stay queued for the next leader to adopt.
            log.info("not starting %d run(s): this node does not hold the lease", len(wanted))
            return set()
        try:
            result = self._store.start_runs(
                wanted, self._node_id, lease, now, live_within=self._live_within
            )
        except LeaseLost:
            log.warning("lease lost; %d run(s) left for the next leader", len(wanted))
            self._on_lease_lost()
            return set()
        for start in wanted:
            if start.run_id in result.skipped:
                self._metrics.skipped(
                    start.job_id, 1, run_id=start.run_id, run=self._run_of(start.run_id)
                )
        if result.ended:
            # A pause (or a cancel) closed them in the store while they waited for their time.
            log.debug("%d run(s) had ended before their start", len(result.ended))
        refused = len(wanted) - len(result.started) - len(result.skipped) - len(result.ended)
        if refused:
            log.warning("%d run(s) were no longer this node's to start", refused)
            self._metrics.refused("running", refused)
        return result.started
