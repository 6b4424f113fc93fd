"""The Store contract: everything gnomon keeps durably, and the only way any layer reaches it.

Every method is one transaction. Times going in and out are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from gnomon.alerts import Delivery, DeliveryPage, DeliveryStatus
from gnomon.domain import (
    Alerting,
    ApiToken,
    AuditEntry,
    AuditFilter,
    JobRecord,
    Lease,
    Node,
    Role,
    Route,
    Run,
    RunPage,
    RunStats,
    RunStatus,
    RunUpdate,
    TriggerSource,
    User,
)
from gnomon.errors import StoreError


class JobActivity(NamedTuple):
    """What changes about a job without a new revision, read in the same transaction as the
    revision (so a caller can reuse whatever it built from that revision's definition and
    trigger)."""

    job_id: str
    revision: int
    updated_at: datetime
    paused: bool
    next_fire_time: datetime | None
    running: int
    last_run: Run | None


class RunsAhead(NamedTuple):
    """A job's fires claimed ahead of their time that are not due yet: the scheduler's
    business, not yet anyone else's (see Store.runs_ahead)."""

    next_fire_time: datetime  # the earliest of them
    run_ids: frozenset[str]
    running: int  # of them, already moved to running just ahead of their time


class LeaseLost(StoreError):
    """A write fenced by a lease was refused because the lease is no longer held by the writer."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"lease {name!r} is no longer held by {holder!r}; write refused")


@dataclass(frozen=True)
class RunStart:
    """A queued run its node wants to move to running now."""

    run_id: str
    job_id: str
    max_instances: int
    #: Runs of the job executing on the starting node now. The node knows them exactly (its
    #: own runs' final statuses may still be on their way to the store); runs of other nodes
    #: are counted from the store.
    running_here: int = 0


class OverdueCheck(NamedTuple):
    """A job the leader watches for successes: told `overdue` after `after` seconds without."""

    job_id: str
    after: float
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class FireClaim:
    """One firing the scheduler wants to record: the run row to insert and the job's next time.

    `run.scheduled_for` with `run.job_id` is unique in the store; a claim whose pair already exists
    is dropped (another process fired it). `next_fire_time` is written to the job only while the
    job's revision is still `expected_revision`, so an API change made meanwhile is never undone.
    """

    run: Run
    expected_revision: int
    next_fire_time: datetime | None
    #: Start the run in the same transaction (a fire claimed when already due): it is inserted
    #: and moved to running, or to skipped when max_instances runs of its job are running, as
    #: Store.start_runs would.
    start: RunStart | None = None
    #: The job's channels: a run inserted with a final status (missed) raises its events in the
    #: same transaction, as a final RunUpdate does.
    alerting: Alerting | None = None


class OutputChunk(NamedTuple):
    """Output of a running run for Store.write_live_output: all of it so far, or (`append`)
    what follows the text stored for it before."""

    run_id: str
    text: str
    append: bool = False


class StartResult(NamedTuple):
    """What Store.start_runs did: the runs now running, those recorded `skipped` because
    max_instances runs of their job were running, and those that had already ended (a pause
    skipped them, a cancel ended them: nothing left to start). Runs in none of the three were
    not this node's to start (adopted by another node, or unknown)."""

    started: set[str]
    skipped: set[str]
    ended: frozenset[str] = frozenset()


class WorkerStart(NamedTuple):
    """What Store.start_on_worker did with a run a worker received: `status` is `running` (the
    worker runs it now), or the final status recorded instead (skipped, missed, cancelled),
    or None when the run was not the worker's to start (unknown, no longer queued, released
    to wait); `why` says which. `run` is the run as it is now (None:
    unknown), `job` its job as stored (None: gone)."""

    status: RunStatus | None
    run: Run | None
    job: JobRecord | None
    why: str


@dataclass(frozen=True)
class JobWrite:
    """A job to insert or replace, with the revision it must still have (None: any, or new);
    with `new`, a job to insert that must not exist yet."""

    record: JobRecord
    expected_revision: int | None = None
    new: bool = False


@dataclass(frozen=True)
class Migration:
    """One schema revision gnomon ships: its id and what it changes."""

    revision: str
    description: str


class Store(ABC):
    """Durable state of jobs, runs, users, API tokens, audit entries, nodes and leadership."""

    # --- lifecycle ---------------------------------------------------------------------------

    @abstractmethod
    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic)."""

    @abstractmethod
    def check_ready(self) -> None:
        """Raise StoreNotReady when the store is unreachable or its schema is not current."""

    @abstractmethod
    def schema_revision(self) -> str | None:
        """The schema revision the store is at; None before its first upgrade. Raises
        StoreError when the store cannot be read."""

    @abstractmethod
    def migrations(self) -> list[Migration]:
        """The schema revisions this gnomon knows, oldest first (the last is the newest)."""

    @abstractmethod
    def backup(self, target: Path) -> str:
        """Copy the whole store into the new file `target` (private to this user), consistent
        even while other processes write to it; returns the copy's schema revision. Raises
        StoreError when `target` exists, when the store has no schema, and for a store it cannot
        copy (PostgreSQL: pg_dump does)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def reading(self) -> AbstractContextManager[None]:
        """A scope in which this thread's reads share one read transaction (one connection,
        one BEGIN and COMMIT) until it writes: a write ends it first, and later reads begin a
        new one that sees the write. For a request's several point reads; by default each read
        keeps its own transaction."""
        return nullcontext()

    # --- jobs --------------------------------------------------------------------------------

    @abstractmethod
    def list_jobs(self) -> list[JobRecord]:
        """Every job, sorted by id."""

    @abstractmethod
    def find_job(self, job_id: str) -> JobRecord | None:
        """The job, or None (also for an id no row can hold: see storable.holdable)."""

    @abstractmethod
    def job_triggers(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored trigger spec of each of these jobs that exists, by id, in one read
        (without decoding the jobs' definitions)."""

    @abstractmethod
    def list_jobs_changed(self, since: int) -> tuple[list[JobRecord], set[str]]:
        """The jobs written after the change counter was `since` (revision > since), sorted by
        id, and the ids of every job now in the store (so a caller also sees deletions)."""

    def get_job(self, job_id: str) -> JobRecord:
        """The job; raises JobNotFound."""
        from gnomon.errors import JobNotFound

        record = self.find_job(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    @abstractmethod
    def write_jobs(
        self,
        writes: Sequence[JobWrite],
        delete_ids: Iterable[str] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> list[JobRecord]:
        """Insert or replace jobs, delete others and add audit entries, all in one transaction.

        Each written job gets a new revision (returned records carry it) and the store's change
        counter grows by one, so schedulers notice. A write that pauses a job also records its
        queued scheduled runs (claimed ahead, or sent to a worker's queue and not started)
        `skipped`, reason `paused`, by the guarded transition from `queued`, so a worker that
        receives one later does not start it; its manual runs and retries stay queued. Raises
        JobChanged when a write's expected_revision no longer matches, JobExists when a `new`
        write's job exists; nothing is written then.
        """

    @abstractmethod
    def change_counter(self) -> int:
        """A number that grows whenever write_jobs changes anything (polled by schedulers)."""

    # --- firing ------------------------------------------------------------------------------

    @abstractmethod
    def claim_fires(
        self, claims: Sequence[FireClaim], fence: Lease | None = None, live_within: float = 10.0
    ) -> list[Run]:
        """Insert the claims' runs and advance their jobs' next fire times, in one transaction.

        Returns the runs actually inserted, as they are after it (a claim with `start` comes back
        running or skipped): a run whose (job_id, scheduled_for) exists already is dropped, and so
        is a claim with `start` whose job no longer has its `expected_revision`. With
        `fence`, raises LeaseLost (writing nothing) unless that lease is still held by its holder
        with the same token and has not expired.
        """

    @abstractmethod
    def set_next_fire_times(self, times: dict[str, tuple[int, datetime | None]]) -> None:
        """Set jobs' next fire times: {job_id: (expected_revision, time)}.

        A job whose revision is no longer the expected one is skipped.
        """

    # --- runs --------------------------------------------------------------------------------

    @abstractmethod
    def add_run(self, run: Run, audit: AuditEntry | None = None) -> Run:
        """Insert one run (a manual run, usually) and optionally its audit entry."""

    @abstractmethod
    def add_manual_run(
        self, run: Run, max_instances: int, now: datetime, audit: AuditEntry | None = None
    ) -> Run:
        """Insert a queued manual run (and its audit entry) unless its job already has
        `max_instances` runs running or queued to start by `now` (fires claimed ahead of their
        time do not count, nor retries waiting out their backoff on the store's clock, see
        update_runs): then raise JobAlreadyRunning, naming the oldest. Check and insert are one
        transaction, so two requests at once cannot both pass."""

    @abstractmethod
    def start_runs(
        self,
        starts: Sequence[RunStart],
        node: str,
        fence: Lease,
        now: datetime,
        live_within: float = 10.0,
    ) -> StartResult:
        """Move queued runs of `node` to running (started_at = `now`), in one transaction
        fenced by `fence` (raises LeaseLost, changing nothing, unless it is still held).

        max_instances is judged here, across every node (from the store the running runs of
        other nodes heard from within `live_within` seconds, the lease time: a leader frozen
        past its lease will not run what it had committed to start; this node's from
        RunStart.running_here): a run whose job already has that many running is recorded
        `skipped` (reason max_instances) instead, in the same transaction.
        """

    @abstractmethod
    def dispatchable(self, run_ids: Sequence[str], node: str, fence: Lease) -> set[str]:
        """Of these runs, the ones still queued and `node`'s, judged under `fence` (raises
        LeaseLost unless it is still held): what a leader may send to workers now."""

    @abstractmethod
    def start_on_worker(
        self, run_id: str, worker: str, now: datetime, live_within: float = 10.0
    ) -> WorkerStart:
        """Move a queued run sent to workers to running on `worker` (started_at = `now`), as a
        guarded transition from `queued` and the node that sent it, in one transaction that
        first judges whether it should start at all: a run of a job gone or paused is
        recorded `skipped` (job_changed), one flagged for cancellation `cancelled`, one past
        its misfire grace `missed` (overloaded), and one whose job has max_instances runs
        running on live nodes (heard from within `live_within` seconds) `skipped`
        (max_instances; a retry is released to wait instead). Starts of one job are
        serialised, so two workers cannot both take its last slot. A run that is not queued,
        or was never taken by a leader, is refused: a redelivered or duplicated message never
        starts a run twice."""

    @abstractmethod
    def start_on_workers(
        self, run_ids: Sequence[str], worker: str, now: datetime, live_within: float = 10.0
    ) -> list[WorkerStart]:
        """start_on_worker for many runs in one transaction: each judged and moved as that
        says, in the order given, each seeing the max_instances slots the ones before it took.
        Returns one WorkerStart per id, in order; an id given twice is started at most once
        (the later ones are refused, "it was delivered twice")."""

    @abstractmethod
    def adopt_runs(self, node: str, fence: Lease) -> list[Run]:
        """Take over, fenced by `fence`, every queued run another node owns (claimed or picked
        up under an earlier lease): they become `node`'s, under the fence's token. Returns
        them, oldest first. Raises LeaseLost, taking nothing, unless the lease is still held."""

    @abstractmethod
    def owned_active_ids(self, node: str) -> dict[str, RunStatus]:
        """The queued and running runs `node` owns: id → status (ids only, so that a node with
        thousands of fires claimed ahead can look cheaply; get_run reads any in full)."""

    @abstractmethod
    def update_runs(self, updates: Sequence[RunUpdate]) -> list[RunUpdate]:
        """Apply lifecycle updates, each as a guarded transition (RunUpdate.from_statuses and
        RunUpdate.owner); fields left None in an update are not changed. Returns the updates
        refused, which changed nothing. Free text is stored as storable_text makes it.

        An applied update with `alerting` also records, in the same transaction, the events
        its status raises (gnomon.alerts.events_for; for a success, judged on the job's
        previous outcome as the store has it) as pending deliveries.

        An applied update with `retry` also inserts that retry, in the same transaction, unless
        its run was flagged for cancellation. Its backoff (its not_before minus the update's
        finished_at, both on the recording node's clock) is counted on the store's clock: on
        PostgreSQL the stored not_before is the server's `now()` plus the backoff, so a node's
        clock ahead of or behind the server's does not change the wait."""

    @abstractmethod
    def write_live_output(self, node: str, outputs: Sequence[OutputChunk]) -> None:
        """Store the output so far of running runs where the run is still `running` on `node`
        (a run that has ended keeps its final output): each chunk's text replaces the run's
        output, or, with `append`, is added to its end. Free text is stored as storable_text
        makes it."""

    @abstractmethod
    def find_run(self, run_id: str) -> Run | None:
        """The run with its output, or None (also for an id no row can hold)."""

    @abstractmethod
    def find_runs_by_id_prefix(self, prefix: str, limit: int) -> list[Run]:
        """At most `limit` runs whose id starts with `prefix` (lowercase hex digits and the
        hyphens of a UUID), in id order, without `output` and `traceback`. An indexed range
        query on the primary key: it reads only the matching rows."""

    def get_run(self, run_id: str) -> Run:
        """The run; raises RunNotFound."""
        from gnomon.errors import RunNotFound

        run = self.find_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    @abstractmethod
    def list_runs(
        self,
        job_id: str | None = None,
        statuses: Sequence[RunStatus] = (),
        trigger_source: TriggerSource | None = None,
        limit: int = 50,
        cursor: str | None = None,
        as_of: datetime | None = None,
        node: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> RunPage:
        """Runs newest first (by queued_at, then id), of one job or of all, with any of the
        given statuses (any status when empty), of the trigger source, of the node, and queued
        at or after `since` and before `until`. `cursor` is a previous page's next_cursor.
        With `as_of`, fires claimed ahead and not due at that instant are left out.

        Items leave out `output` and `traceback` (None) to keep pages light. Raises
        ValidationFailed for a limit below 1 or a cursor that is not one of a page's.
        """

    @abstractmethod
    def run_stats(
        self,
        since: datetime,
        until: datetime,
        windows: Sequence[datetime],
        as_of: datetime,
        job_id: str | None = None,
        duration_jobs: int = 20,
    ) -> RunStats:
        """Statistics of the runs (of one job, or of all), counted by the UTC hour they were
        queued in:

        - `totals`: per start in `windows`, the runs of each status queued since then;
        - `hours`: every hour from the one holding `since` to the one before `until`, with the
          runs of each status queued in it (and before `until`);
        - `durations`: for the `duration_jobs` jobs whose succeeded runs in those hours took the
          most time in all (most first), per hour with such runs, their count, total and
          percentiles (domain.PERCENTILES).

        Fires claimed ahead of their time and not due at `as_of` are not counted. Hours that
        are over are sealed on the way (see store/sql_stats.py): a read that may write.
        """

    @abstractmethod
    def latest_runs(
        self, job_ids: Iterable[str] | None = None, as_of: datetime | None = None
    ) -> dict[str, Run]:
        """The newest run of each job (all jobs when job_ids is None), without output; with
        `as_of`, the newest that is not a fire claimed ahead and not due at that instant."""

    @abstractmethod
    def runs_ahead(self, now: datetime, job_id: str | None = None) -> dict[str, RunsAhead]:
        """Per job (or for the one job), its fires claimed ahead of their time (queued, or
        moved to running just ahead of it) whose time is after `now`. Until their time they
        are the scheduler's business: what people see of a job (its next run time, state,
        running count, last run) leaves them out."""

    @abstractmethod
    def job_activity(self) -> Sequence[JobActivity]:
        """Every job's revision, pause, next fire time, running count and last run, by id, in
        one transaction. While none of it changes, the same sequence object comes back, so
        callers may key caches on its identity."""

    @abstractmethod
    def job_runs(
        self, job_id: str, limit: int, as_of: datetime | None = None
    ) -> tuple[list[Run], int]:
        """The job's newest `limit` runs (as list_runs orders them, without output) and how
        many of its runs are running, in one transaction; with `as_of`, leaving out its fires
        claimed ahead and not due at that instant (see runs_ahead)."""

    @abstractmethod
    def active_runs(self, job_id: str | None = None) -> list[Run]:
        """Runs queued or running (of one job, or all), oldest first, without output."""

    @abstractmethod
    def claim_queued_manual_runs(
        self, node: str, limit: int = 100, fence: Lease | None = None
    ) -> list[Run]:
        """Take queued manual runs no node has taken yet, and retries whose backoff is over
        (on the store's clock: PostgreSQL's `now()`) of jobs not paused and with fewer than
        max_instances runs running, or gone: set their node (and the token of the lease `fence`
        it takes them under), return them. With `fence`, raises LeaseLost (taking nothing)
        unless that lease is still held."""

    @abstractmethod
    def release_retries(self, run_ids: Sequence[str], node: str) -> set[str]:
        """Give `node`'s queued retries among `run_ids` back, untaken, to the queue a leader
        picks retries from (to wait for a pause to end or a free slot). The ids released."""

    @abstractmethod
    def find_retry(self, run_id: str) -> Run | None:
        """The run that retries `run_id` (without its output), or None."""

    @abstractmethod
    def request_cancel(self, run_id: str, now: datetime) -> Run:
        """Flag an active run, and the retry of it waiting out its backoff, for cancellation
        and return the run; a queued run no node has taken yet is cancelled at once (finished
        at `now`). Raises RunNotFound."""

    @abstractmethod
    def runs_to_stop(self, run_ids: Iterable[str]) -> set[str]:
        """Which of these runs (executing on the caller's node) should stop: flagged for
        cancellation, or recorded `interrupted` meanwhile by another node (the orphan check
        took the caller for lost), whose retry must not run beside them."""

    @abstractmethod
    def interrupt_runs(
        self,
        now: datetime,
        reason: str,
        nodes: Iterable[str] | None = None,
        keep_nodes: Iterable[str] = (),
    ) -> list[Run]:
        """Mark active runs `interrupted` and return them; the events this raises on their jobs'
        channels (as the stored job definitions name them) are recorded with them.

        Applies to runs whose node is in `nodes` (None: any node), except runs whose node is in
        `keep_nodes`. Queued manual runs and retries that no node has taken are never touched.
        A run whose job retries `interrupted` gets its retry queued with it, its backoff from
        `now` counted on the store's clock as in update_runs.
        """

    @abstractmethod
    def prune_runs(self, finished_before: datetime) -> int:
        """Delete final runs whose queued_at is older than the given instant, and deliveries
        delivered or given up that were created before it; returns how many runs."""

    # --- notification deliveries (the outbox) ------------------------------------------------

    @abstractmethod
    def due_deliveries(
        self, now: datetime, limit: int = 100, except_channels: Collection[str] = ()
    ) -> list[Delivery]:
        """Pending deliveries whose next attempt is due by `now`, the longest due first,
        leaving out those to `except_channels`."""

    @abstractmethod
    def update_delivery(self, delivery: Delivery) -> bool:
        """Write a delivery's status, attempts and next attempt time as `delivery` has them,
        only while the stored one is still pending. Whether it was written."""

    @abstractmethod
    def count_pending_deliveries(self) -> int:
        """How many deliveries are pending (not delivered and not given up yet)."""

    @abstractmethod
    def raise_overdue(
        self, checks: Sequence[OverdueCheck], now: datetime, fence: Lease
    ) -> list[str]:
        """Tell `overdue`, fenced by `fence`: for each job checked that has had no success for
        longer than its `after` seconds (since its newest success, or since it was added) and
        was not told since, a pending delivery about no run for each of its channels that
        listen. Returns the ids of the jobs told. Raises LeaseLost, telling nothing, when it
        would tell some job and the lease is no longer held."""

    @abstractmethod
    def list_deliveries(
        self,
        job_id: str | None = None,
        channel: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """Deliveries newest first (by created_at, then id). `cursor` is a previous page's
        next_cursor; raises ValidationFailed for one that is not."""

    # --- users and tokens --------------------------------------------------------------------

    @abstractmethod
    def add_user(self, username: str, role: Role, password_hash: str, now: datetime) -> User:
        """Create a user; raises UserExists."""

    @abstractmethod
    def find_user(self, username: str) -> User | None:
        """The user, or None (also for a name no row can hold)."""

    @abstractmethod
    def find_user_by_id(self, user_id: int) -> User | None: ...

    @abstractmethod
    def list_users(self) -> list[User]:
        """Every user, by username."""

    @abstractmethod
    def update_user(
        self, user: User, *, end_sessions: bool = False, keep_an_admin: bool = False
    ) -> User:
        """Write role, password hash, password_changed_at and disabled; with `end_sessions`,
        also raise the user's session generation in the same statement. With
        `keep_an_admin`, raises LastAdmin instead when the write would leave no enabled admin,
        judged in the same transaction (two such writes at once cannot both pass). Raises
        UserNotFound."""

    @abstractmethod
    def end_sessions(self, user_id: int) -> User:
        """Raise the user's session generation by one (atomically), so that every session
        stamped with an older one ends. Raises UserNotFound."""

    @abstractmethod
    def count_users(self) -> int: ...

    @abstractmethod
    def add_token(
        self, user_id: int, name: str, token_hash: str, now: datetime, expires_at: datetime | None
    ) -> ApiToken: ...

    @abstractmethod
    def find_token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    def find_token_and_user(self, token_hash: str) -> tuple[ApiToken, User | None] | None:
        """The token with this hash and its user (None if the user is gone), read together;
        None when no token has this hash."""
        token = self.find_token_by_hash(token_hash)
        return None if token is None else (token, self.find_user_by_id(token.user_id))

    @abstractmethod
    def list_tokens(self, user_id: int | None = None) -> list[ApiToken]: ...

    @abstractmethod
    def revoke_token(self, token_id: int, now: datetime) -> ApiToken:
        """Revoke; raises TokenNotFound."""

    @abstractmethod
    def touch_token(self, token_id: int, now: datetime) -> None:
        """Record a use of the token."""

    # --- login throttling --------------------------------------------------------------------

    def take_login_attempt(
        self, key: str, at: datetime, since: datetime, limit: int
    ) -> list[datetime]:
        """`take_login_attempts` for one key: the failures read under it."""
        return self.take_login_attempts([(key, limit)], at, since)[0]

    @abstractmethod
    def take_login_attempts(
        self, limits: Sequence[tuple[str, int]], at: datetime, since: datetime
    ) -> list[list[datetime]]:
        """Count a login attempt under each key against that key's limit, atomically with every
        other attempt under any of the keys.

        In one transaction, serialised with other attempts under these keys: the failures under
        each key after `since`, oldest first, are read; when every key has fewer than its
        limit, this attempt is recorded under each key as one at `at` (a successful login then
        clears them, see `clear_login_failures`); every failure of any key at or before `since`
        is forgotten. Returns the failures read, one list per key in the order given: a list at
        its key's limit or over means the attempt was refused and nothing was recorded.
        """

    @abstractmethod
    def login_failures(self, key: str, since: datetime) -> list[datetime]:
        """When logins under `key` failed after `since`, oldest first."""

    @abstractmethod
    def clear_login_failures(self, key: str, forget: Sequence[tuple[str, datetime]] = ()) -> None:
        """After a successful login, in one transaction: forget every failure under `key`, and
        for each (other key, time) in `forget` the one failure recorded under that key at that
        time (the successful attempt itself; that key's other failures stay)."""

    # --- audit -------------------------------------------------------------------------------

    @abstractmethod
    def add_audit(self, entry: AuditEntry) -> AuditEntry: ...

    @abstractmethod
    def list_audit(
        self, limit: int = 50, before_id: int | None = None, where: AuditFilter | None = None
    ) -> list[AuditEntry]:
        """Newest first: entries below `before_id` (if given) that `where` admits."""

    # --- nodes and leadership ----------------------------------------------------------------

    @abstractmethod
    def heartbeat(self, node: Node) -> None:
        """Insert or refresh this node's row (last_seen = node.last_seen)."""

    @abstractmethod
    def list_nodes(self) -> list[Node]: ...

    @abstractmethod
    def remove_node(self, node_id: str) -> None: ...

    @abstractmethod
    def current_time(self) -> datetime:
        """The store's clock: what lease expiry, node heartbeats and retries' backoff are judged
        by (PostgreSQL's server time; on SQLite, the clock the store was built with)."""

    @abstractmethod
    def acquire_lease(
        self, name: str, holder: str, ttl_s: float, now: datetime | None = None
    ) -> Lease | None:
        """Take the lease if it is free, expired or already ours (renewing it); else None.

        Expiry is judged and written on the store's clock (current_time), or at `now` if given.
        A new holder gets a token one greater than the last one (fencing).
        """

    @abstractmethod
    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once if `holder` holds it."""

    @abstractmethod
    def find_lease(self, name: str) -> Lease | None: ...
