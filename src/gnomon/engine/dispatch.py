"""Sending runs of jobs executed on Celery to the broker: at their time, under the lease, once.

The leader claims a fire as for any job (Store.claim_fires); the run stays `queued`, its own.
When its time comes it is judged as a local start would be (still due, within its grace: see
ActiveRuns.may_send), then Store.dispatchable confirms under the lease that it is still this
node's, and only then is its id published. A `gnomon worker` that receives it moves it to
running with a guarded transition in the store (Store.start_on_worker), so a message delivered
twice, or published again by a later leader, never runs a fire twice.

While the broker cannot be reached, publishing is tried again with a growing pause as long as
the fire is within its misfire grace; after that it is recorded `missed`, reason
`broker_unavailable`. A run sent but still queued past its grace (no worker took it: none
listens on its queue, or all are busy) is recorded `missed`, reason `overloaded`, by the same
guarded transition a worker's start would have to win. A manual run or a retry has no grace
(it waits for a worker however long it takes): one still untaken RESEND_FIRST seconds after it
was sent is sent again, in case its message was lost (a broker that lost its data, say), then
after twice as long, up to RESEND_LONGEST; a worker's guarded start runs it once whichever
message comes first.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gnomon.domain import JobRecord, Lease, MissReason, Run, RunStatus
from gnomon.errors import StoreError
from gnomon.store.base import LeaseLost, Store

log = logging.getLogger(__name__)

#: The pause before publishing again after the broker failed, doubling up to the longest.
RETRY_FIRST = 0.2
RETRY_LONGEST = 5.0
#: The most runs judged and sent in one pass (one fenced read of the store).
MAX_BATCH = 500
#: Seconds after which a sent manual run or retry that no worker has taken is sent again,
#: doubling up to the longest.
RESEND_FIRST = 60.0
RESEND_LONGEST = 3600.0

Publish = Callable[[str, str], None]


@dataclass
class _Pending:
    record: JobRecord
    run: Run
    ahead: bool  # claimed before its time: still_due decides when it comes
    failures: int = 0
    sent_at: float = field(default=0.0)
    resend_after: float = field(default=RESEND_FIRST)


class Dispatcher:
    """Publishes runs' ids to their jobs' queues at their time, from a thread of its own."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        *,
        publish: Publish,
        lease: Callable[[], Lease | None],
        clock: Callable[[], datetime],
        may_send: Callable[[JobRecord, Run, bool, datetime], JobRecord | None],
        end_unsent: Callable[[Run, JobRecord, MissReason, str], None],
        cancel_unsent: Callable[[Run], None],
        on_lease_lost: Callable[[], None],
        on_broker: Callable[[bool], None] = lambda up: None,
        sweep_every: float = 10.0,
        resend_first: float = RESEND_FIRST,
    ) -> None:
        """`publish(run_id, queue)` sends a message or raises. `may_send(record, run, ahead,
        now)`: the job as it is now if the run should still start, else None (it has
        recorded why not). `end_unsent(run, record, reason, message)` records a queued run
        missed, `cancel_unsent(run)` one whose cancel was asked for before a worker took it.
        `on_broker(up)`: a send succeeded after a failure, or failed after a success.
        `sweep_every`: how often sent runs no worker has taken are looked at; `resend_first`:
        how long after it was sent a manual run or retry still untaken is sent again."""
        self._resend_first = resend_first
        self._store = store
        self._node_id = node_id
        self._publish = publish
        self._lease = lease
        self._clock = clock
        self._may_send = may_send
        self._end_unsent = end_unsent
        self._cancel_unsent = cancel_unsent
        self._on_lease_lost = on_lease_lost
        self._on_broker = on_broker
        self._sweep_every = sweep_every
        self._cond = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, str]] = []  # (time.monotonic(), order, run id)
        self._pending: dict[str, _Pending] = {}
        self._sent: dict[str, _Pending] = {}  # published, not yet seen taken by a worker
        # Taken from _pending by the pass now judging and publishing them: still this node's
        # business (the reconciler must not take them for lost and start them again).
        self._sending: set[str] = set()
        self._order = itertools.count()
        self._next_sweep = time.monotonic() + sweep_every
        # The last publish failed: runs that wait past their grace meanwhile waited for the
        # broker (reason broker_unavailable), whether or not they were tried themselves.
        self._broker_failing = False
        self._on_broker(True)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        # Started again after its thread died mid-pass: the runs that pass held are no longer
        # being sent, so the reconciler may take them back.
        with self._cond:
            self._sending.clear()
        self._thread = threading.Thread(target=self._loop, name="gnomon-dispatch", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending; runs not sent yet stay queued in the store for the next leader."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._cond:
            self._pending.clear()
            self._due.clear()
            self._sending.clear()

    def expect(self, runs: list[tuple[JobRecord, Run, bool, float]]) -> None:
        """Runs to send: (job, run, claimed ahead, time.monotonic() instant to send at)."""
        with self._cond:
            for record, run, ahead, due in runs:
                self._pending[run.id] = _Pending(record, run, ahead)
                heapq.heappush(self._due, (due, next(self._order), run.id))
            self._cond.notify_all()

    def broker_unreachable(self) -> bool:
        """Whether the last attempt to send a run to the broker failed."""
        return self._broker_failing

    def ids(self) -> set[str]:
        """The runs waiting to be sent or sent and not yet seen taken: this node's business."""
        with self._cond:
            return set(self._pending) | set(self._sent) | self._sending

    def _loop(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
            if batch is None:
                return
            if batch:
                try:
                    self._send(batch)
                except Exception:  # never let one bad pass stop every later send
                    log.exception("sending %d run(s) failed; trying again", len(batch))
                    self._again(batch, broker=False)
                finally:
                    with self._cond:
                        self._sending.difference_update(p.run.id for p in batch)
            if time.monotonic() >= self._next_sweep:
                try:
                    self._sweep()
                except Exception:  # the store, probably: the next sweep looks again
                    log.exception("could not look at the runs sent to workers")

    def _next_batch(self) -> list[_Pending] | None:
        """Wait until some run is due (or a sweep is); take the due ones. None once stopping."""
        due = self._due
        while True:
            if self._stopping:
                return None
            while due and due[0][2] not in self._pending:
                heapq.heappop(due)
            now = time.monotonic()
            wait = self._next_sweep - now
            if due:
                wait = min(wait, due[0][0] - now)
            if wait <= 0:
                break
            self._cond.wait(wait)
        batch: list[_Pending] = []
        now = time.monotonic()
        while due and due[0][0] <= now and len(batch) < MAX_BATCH:
            _, _, run_id = heapq.heappop(due)
            pending = self._pending.pop(run_id, None)
            if pending is not None:
                batch.append(pending)
                self._sending.add(run_id)
        return batch

    def _send(self, batch: list[_Pending]) -> None:
        now = self._clock()
        wanted: list[_Pending] = []
        for pending in batch:
            if (pending.failures or self._broker_failing) and _past_grace(pending, now):
                grace = pending.record.definition.misfire_grace_time
                why = f"the broker could not be reached within the {grace}s grace"
                self._end_unsent(pending.run, pending.record, MissReason.BROKER_UNAVAILABLE, why)
                continue
            current = self._may_send(pending.record, pending.run, pending.ahead, now)
            if current is not None:
                pending.record, pending.ahead = current, False
                wanted.append(pending)
        if not wanted:
            return
        lease = self._lease()
        if lease is None:
            log.info("not sending %d run(s): this node does not hold the lease", len(wanted))
            return
        try:
            ours = self._store.dispatchable([p.run.id for p in wanted], self._node_id, lease)
        except LeaseLost:
            log.warning("lease lost; %d run(s) left for the next leader to send", len(wanted))
            self._on_lease_lost()
            return
        except StoreError:
            log.exception("could not confirm %d run(s) to send; trying again", len(wanted))
            self._again(wanted, broker=False)
            return
        failed: list[_Pending] = []
        for index, pending in enumerate(wanted):
            if pending.run.id not in ours:
                continue  # taken over or closed meanwhile
            try:
                self._publish(pending.run.id, pending.record.definition.queue)
            except Exception as exc:
                # The broker is down (or refused): the rest of the batch would fail alike.
                log.warning(
                    "could not send %d run(s) to the broker (%s); trying again",
                    len(wanted) - index,
                    exc,
                )
                failed = [p for p in wanted[index:] if p.run.id in ours]
                self._broker_is(up=False)
                break
            self._broker_is(up=True)
            pending.sent_at = time.monotonic()
            pending.resend_after = self._resend_first
            with self._cond:
                self._sent[pending.run.id] = pending
        if failed:
            self._again(failed)

    def _broker_is(self, *, up: bool) -> None:
        if self._broker_failing is up:  # a change: told once, not per message
            self._broker_failing = not up
            self._on_broker(up)

    def _again(self, failed: list[_Pending], *, broker: bool = True) -> None:
        """Put runs whose publishing failed back, to be tried after a pause that grows with
        each failure of the broker (`broker` False: the store failed, a short pause)."""
        with self._cond:
            pause = RETRY_LONGEST
            for pending in failed:
                wait = RETRY_FIRST
                if broker:
                    pending.failures += 1
                    wait = min(RETRY_LONGEST, RETRY_FIRST * 2 ** (pending.failures - 1))
                pause = min(pause, wait)
                self._pending[pending.run.id] = pending
                heapq.heappush(
                    self._due, (time.monotonic() + wait, next(self._order), pending.run.id)
                )
            if failed:
                # Wait out the shortest pause rather than spinning on a broker that is down.
                self._cond.wait(pause)

    def _sweep(self) -> None:
        """Forget sent runs a worker has taken (or that ended); record missed those still
        queued past their grace: no worker took them in time."""
        self._next_sweep = time.monotonic() + self._sweep_every
        with self._cond:
            sent = dict(self._sent)
        if not sent:
            return
        owned = self._store.owned_active_ids(self._node_id)
        waiting = [run_id for run_id in sent if owned.get(run_id) is RunStatus.QUEUED]
        cancelled = self._store.runs_to_stop(waiting) if waiting else set()
        now = self._clock()
        for run_id, pending in sent.items():
            if owned.get(run_id) is not RunStatus.QUEUED:
                with self._cond:
                    self._sent.pop(run_id, None)
                continue
            if run_id in cancelled:
                # Asked to stop before any worker took it (none may listen on its queue).
                self._cancel_unsent(pending.run)
                with self._cond:
                    self._sent.pop(run_id, None)
                continue
            if _past_grace(pending, now):
                grace = pending.record.definition.misfire_grace_time
                why = f"sent to queue {pending.record.definition.queue!r}, no worker took it "
                why += f"within the {grace}s grace"
                self._end_unsent(pending.run, pending.record, MissReason.OVERLOADED, why)
                with self._cond:
                    self._sent.pop(run_id, None)
            elif pending.run.scheduled_for is None:
                self._resend_if_untaken(pending)

    def _resend_if_untaken(self, pending: _Pending) -> None:
        """Send a manual run or retry again once it has waited `resend_after` untaken."""
        waited = time.monotonic() - pending.sent_at
        if waited < pending.resend_after or self._lease() is None:
            return
        queue = pending.record.definition.queue
        try:
            self._publish(pending.run.id, queue)
        except Exception as exc:
            log.warning(
                "could not send run %s again (%s); trying at the next look", pending.run.id, exc
            )
            return
        log.warning(
            "run %s was sent to queue %r %.0fs ago and no worker has taken it; sent it again "
            "(a worker starts it once whichever message it gets first)",
            pending.run.id,
            queue,
            waited,
        )
        pending.sent_at = time.monotonic()
        pending.resend_after = min(RESEND_LONGEST, pending.resend_after * 2)


def _past_grace(pending: _Pending, now: datetime) -> bool:
    run = pending.run
    latest = run.last_scheduled_for or run.scheduled_for
    if latest is None:
        return False  # a manual run waits for a worker however long it takes
    return (now - latest).total_seconds() > pending.record.definition.misfire_grace_time
