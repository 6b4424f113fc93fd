"""Job use cases: list, get, change trigger, pause, resume, run now, reload, preview, ad-hoc jobs.

Every change goes through the store (one transaction with its audit entry) and is then announced
to an in-process scheduler if there is one; schedulers elsewhere notice the store's change counter.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gnomon.config import DEFAULT_TIMEZONE
from gnomon.domain import (
    AuditEntry,
    JobDefinition,
    JobRecord,
    Run,
    RunStatus,
    TriggerSource,
    utcnow,
)
from gnomon.engine.leadership import LEASE_NAME
from gnomon.errors import (
    JobHasNoNextRun,
    JobNotEditable,
    Problem,
    SchedulerNotRunning,
    ValidationFailed,
)
from gnomon.ids import new_run_id
from gnomon.services.registration import Registration, reload_all, sync_on_start
from gnomon.services.views import Actor, JobView, ReloadResult
from gnomon.store.base import JobActivity, JobWrite, RunsAhead, Store
from gnomon.triggers import Trigger, load_trigger, parse_trigger

MAX_PREVIEW = 100
DETAIL_PREVIEW = 5
RECENT_RUNS = 10

# Jobs whose records stay loaded after they left the store, before the cache is pruned.
LOADED_SLACK = 256
# Jobs re-read one by one when they changed since the last listing; more are read in one query.
FETCH_ONE_BY_ONE = 16

Notify = Callable[[str], None]


class JobService:
    """The jobs of one store, as the API and the CLI see and change them."""

    def __init__(
        self,
        store: Store,
        *,
        declarations: Callable[[], list[JobDefinition]],
        clock: Callable[[], datetime] = utcnow,
        notify: Notify | None = None,
    ) -> None:
        """`declarations` reads and validates the configuration afresh (raises ConfigInvalid)."""
        self.store = store
        self._declarations = declarations
        self._clock = clock
        self._notify = notify
        # Per job id, the view of its last revision seen (record and both triggers): listing
        # then decodes only the jobs written since, not every definition and trigger spec.
        self._loaded: dict[str, JobView] = {}
        self._listing: tuple[Sequence[JobActivity], tuple[JobView, ...]] | None = None
        # The last listing adjusted for fires claimed ahead: (listing, runs_ahead, result).
        self._seen: tuple[tuple[JobView, ...], dict[str, RunsAhead], tuple[JobView, ...]] | None = (
            None
        )

    # --- reading -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The service's clock (injected in tests)."""
        return self._clock()

    def scheduler_running(self) -> bool:
        """True while some scheduler holds an unexpired lease on this store."""
        lease = self.store.find_lease(LEASE_NAME)
        # Judged on the store's clock, as the lease was written: not this host's, which may be off.
        return lease is not None and lease.expires_at > self.store.current_time()

    def require_scheduler(self) -> None:
        """Raise SchedulerNotRunning unless a scheduler is live for this store."""
        if not self.scheduler_running():
            raise SchedulerNotRunning()

    def list_jobs(self) -> list[JobView]:
        """Every job, sorted by id, with its running count and last run."""
        return list(self.job_listing())

    def job_listing(self) -> tuple[JobView, ...]:
        """What list_jobs returns, as the very same tuple for as long as the store reports the
        same activity (and the same fires claimed ahead), so callers may key caches on its
        identity."""
        return self._as_seen(self._stored_listing(), self._clock())

    def _as_seen(self, listing: tuple[JobView, ...], now: datetime) -> tuple[JobView, ...]:
        """The listing as people see it at `now`: fires the scheduler claimed ahead of their
        time are its business until then (not a job's last run, not running, and its next run
        time until it starts)."""
        ahead = self.store.runs_ahead(now)
        if not ahead:
            return listing
        kept = self._seen
        if kept is not None and kept[0] is listing and kept[1] == ahead:
            return kept[2]
        hidden = [
            view.id
            for view in listing
            if view.id in ahead
            and view.last_run is not None
            and view.last_run.id in ahead[view.id].run_ids
        ]
        latest = self.store.latest_runs(hidden, as_of=now) if hidden else {}
        seen = tuple(_without_ahead(view, ahead.get(view.id), latest) for view in listing)
        self._seen = (listing, ahead, seen)
        return seen

    def _stored_listing(self) -> tuple[JobView, ...]:
        # A job written between the snapshot and the re-read of its record: read again.
        for _attempt in range(3):
            activity = self.store.job_activity()
            kept = self._listing
            if kept is not None and kept[0] is activity:
                return kept[1]
            views = self._current_views(activity)
            if views is not None:
                listing = tuple(views)
                self._listing = (activity, listing)
                return listing
        return tuple(self._read_views())

    def _current_views(self, activity: Sequence[JobActivity]) -> list[JobView] | None:
        """Views of the snapshot's jobs from the loaded records, re-reading only the jobs whose
        revision changed; None when one changed again meanwhile."""
        loaded = self._loaded
        found = [loaded.get(a.job_id) for a in activity]
        stale = [
            a
            for a, view in zip(activity, found, strict=True)
            if view is None or not _written_as(view.record, a)
        ]
        fresh = self._reread(stale)
        views: list[JobView] = []
        for a, view in zip(activity, found, strict=True):
            if view is None or not _written_as(view.record, a):
                reread = fresh.get(a.job_id)
                if reread is None or not _written_as(reread, a):
                    return None
                view = self._view(reread)
            record = view.record
            if record.paused != a.paused or record.next_fire_time != a.next_fire_time:
                # The scheduler moves next fire times without a new revision.
                record = record.replace(paused=a.paused, next_fire_time=a.next_fire_time)
                view = JobView(record, view.trigger, view.declared_trigger)
            loaded[a.job_id] = view
            views.append(
                JobView(record, view.trigger, view.declared_trigger, a.running, a.last_run)
            )
        if len(loaded) > len(activity) + LOADED_SLACK:
            current = {a.job_id for a in activity}
            # list(): one copy of the keys, safe while other request threads add entries.
            for job_id in [job_id for job_id in list(loaded) if job_id not in current]:
                loaded.pop(job_id, None)
        return views

    def _reread(self, stale: list[JobActivity]) -> dict[str, JobRecord]:
        """The records of the jobs in `stale`, as stored now (a job deleted since is missing)."""
        if not stale:
            return {}
        if len(stale) <= FETCH_ONE_BY_ONE:
            found = (self.store.find_job(a.job_id) for a in stale)
            return {record.id: record for record in found if record is not None}
        wanted = {a.job_id for a in stale}
        changed, _ids = self.store.list_jobs_changed(min(a.revision for a in stale) - 1)
        return {record.id: record for record in changed if record.id in wanted}

    def _read_views(self) -> list[JobView]:
        """list_jobs with every record decoded afresh (when jobs kept changing under three
        snapshots in a row)."""
        records = self.store.list_jobs()
        running = Counter(
            r.job_id for r in self.store.active_runs() if r.status == RunStatus.RUNNING
        )
        latest = self.store.latest_runs()
        return [
            self._view(record, running=running[record.id], last_run=latest.get(record.id))
            for record in records
        ]

    def get_job(self, job_id: str) -> JobView:
        """One job with its next fire times and recent runs; raises JobNotFound."""
        return self.detail(self.store.get_job(job_id))

    def detail(self, record: JobRecord) -> JobView:
        """What get_job gives for the job stored as `record` (just read, or just written by
        one of this service's changes, which return it): its runs are read now."""
        now = self._clock()
        job_id = record.id
        recent, running = self.store.job_runs(job_id, RECENT_RUNS, as_of=now)
        ahead = self.store.runs_ahead(now, job_id).get(job_id)
        if ahead is not None:
            record = _with_next_fire(record, load_trigger(record.trigger), ahead)
        view = self._view(record, running=running, last_run=recent[0] if recent else None)
        start = record.next_fire_time
        times: list[datetime] = []
        if start is not None:
            times = [start, *view.trigger.preview(start, DETAIL_PREVIEW - 1)]
        elif record.paused:
            times = view.trigger.preview(self._clock(), DETAIL_PREVIEW)
        return JobView(
            record=record,
            trigger=view.trigger,
            declared_trigger=view.declared_trigger,
            running=view.running,
            last_run=view.last_run,
            next_run_times=times,
            recent_runs=recent,
        )

    def preview_job(
        self, job_id: str, count: int = DETAIL_PREVIEW
    ) -> tuple[Trigger, list[datetime]]:
        """The job's trigger in force and its next `count` fire times from now."""
        _check_count(count)
        record = self.store.get_job(job_id)
        trigger = load_trigger(record.trigger)
        return trigger, trigger.preview(self._clock(), count)

    def preview_trigger(
        self,
        data: Mapping[str, Any],
        count: int = DETAIL_PREVIEW,
        default_timezone: str = DEFAULT_TIMEZONE,
    ) -> tuple[Trigger, list[datetime]]:
        """Validate a trigger as PUT would and give its next `count` fire times; changes nothing."""
        _check_count(count)
        now = self._clock()
        trigger = parse_trigger(data, default_timezone=default_timezone, now=now)
        return trigger, trigger.preview(now, count)

    # --- changing ------------------------------------------------------------------------------

    def update_trigger(self, job_id: str, data: Mapping[str, Any], actor: Actor) -> JobView:
        """Change a builtin job's trigger; a paused job stays paused.

        Raises JobNotFound, JobNotEditable (ad-hoc or locked job), TriggerInvalid.
        """
        record = self.store.get_job(job_id)
        if not record.definition.is_builtin:
            raise JobNotEditable(job_id, "it was added at runtime, not declared in the config")
        if record.definition.locked:
            raise JobNotEditable(job_id, "it is declared with locked = true")
        now = self._clock()
        current = load_trigger(record.trigger)
        trigger = parse_trigger(data, default_timezone=current.timezone.key, now=now)
        spec = trigger.to_spec()
        updated = record.replace(
            trigger=spec,
            next_fire_time=None if record.paused else trigger.next_fire_time(now),
        )
        return self._write(record, updated, actor, "job.update_trigger")

    def pause(self, job_id: str, actor: Actor) -> JobView:
        """Pause the job (idempotent). Raises JobNotFound."""
        record = self.store.get_job(job_id)
        if record.paused:
            return self._view(record)
        return self._write(
            record, record.replace(paused=True, next_fire_time=None), actor, "job.pause"
        )

    def resume(self, job_id: str, actor: Actor) -> JobView:
        """Resume the job (idempotent). Raises JobNotFound, JobHasNoNextRun."""
        record = self.store.get_job(job_id)
        next_time = load_trigger(record.trigger).next_fire_time(self._clock())
        if next_time is None:
            # Paused or not: a job whose trigger has ended cannot be resumed (SPEC §5.3).
            raise JobHasNoNextRun(job_id)
        if not record.paused:
            return self._view(record)
        updated = record.replace(paused=False, next_fire_time=next_time)
        return self._write(record, updated, actor, "job.resume")

    def run_now(self, job_id: str, actor: Actor) -> Run:
        """Queue a manual run, executed in the background by the scheduler; paused jobs too.

        Raises JobNotFound, JobAlreadyRunning when max_instances runs are running or due to
        start now, anywhere in the cluster.
        """
        record = self.store.get_job(job_id)
        now = self._clock()
        # The same UUIDv7 scheme as scheduled runs: one kind of run id, ordered by creation.
        run_id = new_run_id()
        run = Run(
            id=run_id,
            job_id=job_id,
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.QUEUED,
            queued_at=now,
            created_by=actor.user_id,
            # A v7 id starts with its millisecond: the unique part is the random tail.
            manual_job_id=f"manual-{job_id}-{run_id[-12:]}",
        )
        audit = self._audit(actor, "job.run", job_id, None, {"run_id": run_id}, now)
        # Counted and inserted in one transaction: two quick requests cannot both pass, and a
        # fire claimed ahead of its time does not count until its time.
        run = self.store.add_manual_run(run, record.definition.max_instances, now, audit=audit)
        self._announce("manual_run")
        return run

    def reload(self, actor: Actor) -> ReloadResult:
        """Re-read the configuration and re-register every job atomically (SPEC §5.3).

        Raises ConfigInvalid, changing nothing, when the configuration has any problem.
        """
        declared = self._declarations()
        registration = reload_all(self.store.list_jobs(), declared, self._clock())
        self._apply(registration, actor, "jobs.reload")
        return registration.result

    def sync_declared(
        self, actor: Actor, declared: Sequence[JobDefinition] | None = None
    ) -> ReloadResult:
        """At start-up: add new declarations, drop vanished ones, keep every job's state.

        `declared`: the definitions to register (by default the configuration read afresh).
        """
        declared = self._declarations() if declared is None else list(declared)
        registration = sync_on_start(self.store.list_jobs(), declared, self._clock())
        if registration.changes_anything:
            self._apply(registration, actor, "jobs.sync")
        return registration.result

    # --- ad-hoc jobs (Python API) --------------------------------------------------------------

    def add_job(
        self,
        definition: JobDefinition,
        actor: Actor,
        replace_existing: bool = False,
        *,
        after: datetime | None = None,
    ) -> JobView:
        """Add an ad-hoc job (never re-triggerable through the HTTP API, dropped by reload).

        Its first fire time is the first after `after` (default: now). Raises ValidationFailed,
        JobExists (unless replace_existing).
        """
        firsts = None if after is None else {definition.id: after}
        [view] = self.add_jobs([definition], actor, replace_existing, after=firsts)
        return view

    def add_jobs(
        self,
        definitions: Sequence[JobDefinition],
        actor: Actor,
        replace_existing: bool = False,
        *,
        after: Mapping[str, datetime] | None = None,
    ) -> list[JobView]:
        """Add ad-hoc jobs in one transaction, with an audit entry each: all or none.

        `after`: per job id, the instant its first fire time comes after (default: now).
        Raises ValidationFailed (an invalid or repeated id), JobExists (the first that exists,
        unless replace_existing).
        """
        from gnomon.config import JOB_ID_PATTERN

        problems = [
            Problem(
                f"[{i}].id" if len(definitions) > 1 else "id", f"{d.id!r} is not a valid job id"
            )
            for i, d in enumerate(definitions)
            if not JOB_ID_PATTERN.match(d.id)
        ]
        seen: set[str] = set()
        for i, definition in enumerate(definitions):
            if definition.id in seen:
                problems.append(Problem(f"[{i}].id", f"{definition.id!r} is given twice"))
            seen.add(definition.id)
        if problems:
            raise ValidationFailed(problems)
        now = self._clock()
        firsts = after or {}
        existing: dict[str, JobRecord] = {}
        if replace_existing:
            # The jobs replaced, for their audit entries' before-state.
            if len(definitions) == 1:
                found = self.store.find_job(definitions[0].id)
                existing = {} if found is None else {found.id: found}
            else:
                existing = {r.id: r for r in self.store.list_jobs() if r.id in seen}
        writes: list[JobWrite] = []
        audit: list[AuditEntry] = []
        triggers: list[Trigger] = []
        for definition in definitions:
            if definition.is_builtin:
                definition = dataclasses.replace(definition, is_builtin=False)
            trigger = load_trigger(definition.trigger)
            triggers.append(trigger)
            record = JobRecord(
                definition=definition,
                trigger=definition.trigger,
                next_fire_time=trigger.next_fire_time(firsts.get(definition.id, now)),
            )
            before = existing.get(definition.id)
            # Not replacing: the store refuses, in the transaction, a job that exists.
            writes.append(JobWrite(record, new=not replace_existing))
            audit.append(
                self._audit(
                    actor,
                    "job.add",
                    definition.id,
                    _audit_state(before) if before else None,
                    _audit_state(record),
                    now,
                )
            )
        written = self.store.write_jobs(writes, audit=audit)
        self._announce("jobs")
        # A new job's trigger in force is its declared one.
        return [
            JobView(record, trigger, trigger)
            for record, trigger in zip(written, triggers, strict=True)
        ]

    def remove_job(self, job_id: str, actor: Actor) -> None:
        """Delete a job (its run history stays). Raises JobNotFound."""
        record = self.store.get_job(job_id)
        audit = self._audit(actor, "job.remove", job_id, _audit_state(record), None, self._clock())
        self.store.write_jobs([], delete_ids=[job_id], audit=[audit])
        self._announce("jobs")

    # --- internals -----------------------------------------------------------------------------

    def _write(
        self, before: JobRecord | None, after: JobRecord, actor: Actor, action: str
    ) -> JobView:
        audit = self._audit(
            actor,
            action,
            after.id,
            _audit_state(before) if before else None,
            _audit_state(after),
            self._clock(),
        )
        expected = before.revision if before else None
        [written] = self.store.write_jobs(
            [JobWrite(after, expected_revision=expected)], audit=[audit]
        )
        self._announce("jobs")
        return self._view(written)

    def _apply(self, registration: Registration, actor: Actor, action: str) -> None:
        result = registration.result
        audit = self._audit(
            actor,
            action,
            None,
            None,
            {"added": result.added, "removed": result.removed, "changed": result.changed},
            self._clock(),
        )
        self.store.write_jobs(registration.writes, registration.delete_ids, audit=[audit])
        self._announce("jobs")

    def _announce(self, what: str) -> None:
        if self._notify is not None:
            self._notify(what)

    @staticmethod
    def _audit(
        actor: Actor,
        action: str,
        target: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        now: datetime,
    ) -> AuditEntry:
        return AuditEntry(
            id=None,
            at=now,
            actor=actor.name,
            action=action,
            target=target,
            before=before,
            after=after,
            client=actor.client,
            user_id=actor.user_id,
        )

    def _view(self, record: JobRecord, running: int = 0, last_run: Run | None = None) -> JobView:
        return JobView(
            record=record,
            trigger=load_trigger(record.trigger),
            declared_trigger=load_trigger(record.definition.trigger),
            running=running,
            last_run=last_run,
        )


def _with_next_fire(record: JobRecord, trigger: Trigger, ahead: RunsAhead) -> JobRecord:
    """The job with its next fire time as people see it: a fire claimed ahead is still next,
    unless the job's trigger changed since and no longer fires then (that claim is void)."""
    stored = record.next_fire_time
    if record.paused or (stored is not None and stored <= ahead.next_fire_time):
        return record
    if not trigger.fires_at(ahead.next_fire_time):
        return record
    return record.replace(next_fire_time=ahead.next_fire_time)


def _without_ahead(view: JobView, ahead: RunsAhead | None, latest: dict[str, Run]) -> JobView:
    if ahead is None:
        return view
    last = view.last_run
    if last is not None and last.id in ahead.run_ids:
        last = latest.get(view.id)
    return JobView(
        record=_with_next_fire(view.record, view.trigger, ahead),
        trigger=view.trigger,
        declared_trigger=view.declared_trigger,
        running=max(0, view.running - ahead.running),
        last_run=last,
    )


def _written_as(record: JobRecord, activity: JobActivity) -> bool:
    """Whether `record` is the job as last written when `activity` was read.

    Revisions come from the store's change counter, so one (id, revision) is one write; the
    write time also tells apart a store replaced under a running process.
    """
    return record.revision == activity.revision and record.updated_at == activity.updated_at


def _audit_state(record: JobRecord) -> dict[str, Any]:
    return {"trigger": record.trigger, "paused": record.paused}


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_PREVIEW:
        raise ValidationFailed(
            [Problem("count", f"must be between 1 and {MAX_PREVIEW}, got {count}")]
        )
