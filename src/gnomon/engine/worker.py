"""What a `gnomon worker` does with each run id the broker delivers: start it in the store, at
most once, execute it as the scheduler would, and record how it ended.

The start is the store's guarded transition (Store.start_on_worker), so a message delivered
twice, or a run some other worker or the leader has closed, is refused before anything runs;
the starts of runs delivered together are committed in one transaction (worker_starts.py), and
a run's code runs only once its own start is committed. The run then executes with the engine's
own executors (engine/executors): Python targets and commands, the run context, output capture,
timeout and cancel, isolation, retries. How it ended goes to a RunRecorder (recorder.py), which
writes the ends of many runs together, each a guarded transition from running on this worker,
and writes what it still holds when the worker stops.

A worker is a node like a scheduler: it registers in the store and beats every quarter of the
lease time, with its role, queues and concurrency. If it falls silent, the leader's orphan
check records its running runs `interrupted` (engine/reconciler.py). It looks for cancel
requests of the runs it executes every second, and at once when told of one: on PostgreSQL it
listens for the store's change notices (engine/listener.py), which the API sends after every
cancel request, so a cancelled run stops within a round trip rather than within the next look.
It writes the output of long runs to their records as it grows (engine/live.py, as a scheduler
does).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from gnomon.domain import JobDefinition, Node, Run, RunStatus, RunUpdate, utcnow
from gnomon.engine.executors import run_job
from gnomon.engine.executors.base import raised_update
from gnomon.engine.listener import LEASE, MANUAL_RUN, ChangeListener
from gnomon.engine.live import LiveOutput
from gnomon.engine.output import OutputBuffer
from gnomon.engine.recorder import RunRecorder
from gnomon.engine.retries import with_retry
from gnomon.engine.runlog import log_run_end
from gnomon.engine.worker_starts import StartCommitter
from gnomon.errors import StoreError
from gnomon.store.base import Store, WorkerStart

log = logging.getLogger(__name__)

#: How often a worker looks for cancel requests of the runs it executes without being told.
CANCEL_POLL = 1.0
#: How often the ends handed to the recorder are written (at most this long after a run ends).
RECORD_INTERVAL = 0.05
#: How long a worker stopping keeps trying to write the ends it holds while the store fails.
STOP_RECORD_WAIT = 5.0


def worker_node_id() -> str:
    """A node id for a worker process: host, pid, and a mark telling it from schedulers."""
    return f"{socket.gethostname()}-{os.getpid()}-worker"


class RunWorker:
    """Executes delivered runs by id; `start()` its heartbeat before the first, `stop()` after."""

    def __init__(
        self,
        store: Store,
        *,
        node_id: str,
        queues: Sequence[str],
        concurrency: int,
        lease_ttl: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        record_interval: float = RECORD_INTERVAL,
        changes_dsn: str | None = None,
        cancel_poll: float = CANCEL_POLL,
    ) -> None:
        """`changes_dsn`: the PostgreSQL store's libpq URL (listener.libpq_url), to hear of
        cancel requests as they are made; None (SQLite) looks every `cancel_poll` only."""
        self.store = store
        self.node_id = node_id
        self._queues = tuple(queues)
        self._concurrency = concurrency
        self._lease_ttl = lease_ttl
        self._clock = clock
        self._started_at = clock()
        self._lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}  # the runs executing here
        # Their output so far, and when each began (time.monotonic()), for LiveOutput.
        self._outputs: dict[str, tuple[OutputBuffer, float]] = {}
        self._live = LiveOutput(store, node_id, self.outputs)
        self._recorder = RunRecorder(store, interval=record_interval)
        # The ends handed over are written before each batch of starts is judged: a run that
        # ended here must not count against its job's max_instances.
        self._starts = StartCommitter(
            store,
            node_id,
            live_within=lease_ttl / 2,
            clock=clock,
            before=self._recorder.flush,
        )
        self._cancel_poll = cancel_poll
        self._listener = None if changes_dsn is None else ChangeListener(changes_dsn, self._told)
        self._look = threading.Event()  # set to look for cancel requests now
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the node ------------------------------------------------------------------------------

    def start(self) -> None:
        """Register this node (raising StoreError if the store cannot be reached), then keep
        beating from a thread of its own."""
        self._beat()
        self._starts.start()
        self._recorder.start()
        self._thread = threading.Thread(target=self._loop, name="gnomon-worker-node", daemon=True)
        self._thread.start()
        self._live.start()
        if self._listener is not None:
            self._listener.start()

    def stop(self) -> None:
        """Write the ends of the runs that ended, stop beating and leave the node registry (runs
        still executing are Celery's to wait for before this is called)."""
        self._stopping.set()
        self._look.set()
        if self._listener is not None:
            self._listener.stop()
        self._starts.stop()
        self._live.stop()
        self._recorder.stop()  # writes what it holds
        deadline = time.monotonic() + STOP_RECORD_WAIT
        while (unwritten := self._recorder.pending_ids()) and time.monotonic() < deadline:
            time.sleep(RECORD_INTERVAL * 4)  # the store failed that write: try again shortly
            self._recorder.flush()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if unwritten:
            # Left running on a node gone: the leader's orphan check records them interrupted.
            log.error(
                "worker %s stops without recording the end of %d run(s), the store being "
                "unreachable: %s",
                self.node_id,
                len(unwritten),
                ", ".join(sorted(unwritten)),
            )
        try:
            self.store.remove_node(self.node_id)
        except StoreError:
            log.warning("could not remove node %s from the store", self.node_id)

    def running(self) -> list[str]:
        with self._lock:
            return list(self._cancels)

    def outputs(self, running_for: float) -> list[tuple[str, OutputBuffer]]:
        """The output buffers of the runs executing here for at least `running_for` seconds."""
        since = time.monotonic() - running_for
        with self._lock:
            return [(i, buffer) for i, (buffer, began) in self._outputs.items() if began <= since]

    def _beat(self) -> None:
        now = self.store.current_time()  # heartbeats are judged on the store's clock
        self.store.heartbeat(
            Node(
                id=self.node_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self._started_at,
                last_seen=now,
                roles=("worker",),
                queues=self._queues,
                concurrency=self._concurrency,
            )
        )

    def _told(self, what: str) -> None:
        """A change notice from the store: a cancel request (or anything but a manual run or a
        released lease, and every reconnection, after which notices may have been lost)."""
        if what not in (MANUAL_RUN, LEASE):
            self._look.set()

    def _loop(self) -> None:
        next_beat = time.monotonic() + self._lease_ttl / 4
        while True:
            self._look.wait(min(self._cancel_poll, self._lease_ttl / 4))
            self._look.clear()
            if self._stopping.is_set():
                return
            try:
                if time.monotonic() >= next_beat:
                    self._beat()
                    next_beat = time.monotonic() + self._lease_ttl / 4
                self._apply_cancellations()
            except Exception:
                log.exception("worker %s could not reach the store; retrying", self.node_id)

    def _apply_cancellations(self) -> None:
        running = self.running()
        if not running:
            return
        for run_id in self.store.runs_to_stop(running):
            with self._lock:
                cancel = self._cancels.get(run_id)
            if cancel is not None:
                cancel.set()

    # --- runs ----------------------------------------------------------------------------------

    def execute(self, run_id: str) -> RunStatus | None:
        """Start run `run_id` here if it is still this worker's to start, execute it and record
        how it ended. Returns its final status, or None when it was not started here."""
        start = self._starts.request(run_id)  # committed with the others waiting now
        if start.status is not RunStatus.RUNNING:
            self._not_started(run_id, start)
            return start.status
        run, record = start.run, start.job
        assert run is not None and record is not None  # a run started has both
        cancel, output = threading.Event(), OutputBuffer()
        with self._lock:
            self._cancels[run.id] = cancel
            self._outputs[run.id] = (output, time.monotonic())
        try:
            return self._run(run, record.definition, cancel, output)
        finally:
            with self._lock:
                self._cancels.pop(run.id, None)
                self._outputs.pop(run.id, None)

    def _run(
        self, run: Run, definition: JobDefinition, cancel: threading.Event, output: OutputBuffer
    ) -> RunStatus:
        thread = threading.current_thread()
        name, thread.name = thread.name, run.manual_job_id or f"gnomon-run-{run.id[:8]}"
        alerting = definition.alerting
        started = self._clock()
        try:
            outcome = run_job(
                definition,
                run,
                cancel,
                clock=self._clock,
                store=self.store,
                output=output,
                started=started,
            )
            update = outcome.to_update(run.id, node=self.node_id, alerting=alerting)
        except BaseException as exc:  # whatever reaches here came from the job
            update = raised_update(
                run.id,
                exc,
                started_at=started,
                finished_at=self._clock(),
                node=self.node_id,
                alerting=alerting,
            )
        finally:
            thread.name = name
        update = with_retry(update, definition, run)
        self._record(update)
        log_run_end(run, update)
        return update.status

    def _record(self, update: RunUpdate) -> None:
        """Hand the run's end to the recorder, which writes it with others (a guarded transition
        from running, owned by this worker; one the store refuses, the run recorded interrupted
        meanwhile, is logged) and waits out a store that cannot be reached."""
        self._recorder.record(update)

    def _not_started(self, run_id: str, start: WorkerStart) -> None:
        if start.status is None:
            log.info("run %s not started on this worker: %s", run_id, start.why)
            return
        if start.run is not None:
            update = RunUpdate(
                run_id=run_id,
                status=start.status,
                finished_at=start.run.finished_at,
                error_message=start.why,
            )
            log_run_end(start.run, update)
