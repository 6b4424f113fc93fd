"""Run use cases: list a job's runs, read one with its output, cancel one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gnomon.domain import (
    AuditEntry,
    Run,
    RunPage,
    RunStats,
    RunStatus,
    TriggerSource,
    hour_start,
    utcnow,
)
from gnomon.errors import (
    Problem,
    RunIdAmbiguous,
    RunNotCancellable,
    RunNotFound,
    ValidationFailed,
)
from gnomon.services.views import Actor
from gnomon.store.base import Store
from gnomon.triggers.timezones import END_INSTANT, FIRST_INSTANT, FIRST_YEAR, LAST_YEAR

MAX_PAGE = 500
#: The fewest characters of a run id (hyphens not counted) that name a run by its start.
MIN_ID_PREFIX = 4
#: How many of the runs an ambiguous shortened id starts an error lists.
AMBIGUOUS_LISTED = 10


#: The windows before now whose runs the statistics total, by name.
STATS_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_STATS_RANGE = timedelta(hours=24)
#: The most hours one statistics answer holds: 31 days.
MAX_HOURS = 31 * 24
#: The jobs whose durations the statistics give: those whose runs took the most time.
DURATION_JOBS = 10


@dataclass(frozen=True)
class StatsReport:
    """Run statistics as asked for: the instant they were read at, the range of hours."""

    now: datetime
    since: datetime
    until: datetime
    stats: RunStats


class RunService:
    """Run records of one store."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._notify = notify

    def list_runs(
        self,
        job_id: str | None = None,
        status: RunStatus | None = None,
        trigger_source: TriggerSource | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs newest first; raises JobNotFound for an unknown job, ValidationFailed for limit
        or cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed([Problem("limit", f"must be between 1 and {MAX_PAGE}")])
        if job_id is not None:
            self.store.get_job(job_id)
        return self.store.list_runs(
            job_id=job_id,
            statuses=(status,) if status else (),
            trigger_source=trigger_source,
            limit=limit,
            cursor=cursor,
            as_of=self._clock(),  # fires claimed ahead show once their time has come
        )

    def list_all_runs(
        self,
        *,
        job_id: str | None = None,
        statuses: Sequence[RunStatus] = (),
        trigger_source: TriggerSource | None = None,
        node: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs of every job newest first, filtered: of the job (its runs are kept after it
        is removed, so an unknown id is no error), with any of `statuses`, of the trigger
        source, of the node, queued at or after `since` and before `until`.

        Raises ValidationFailed for limit, cursor, or an `until` before `since`.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed([Problem("limit", f"must be between 1 and {MAX_PAGE}")])
        if since is not None and until is not None and until < since:
            raise ValidationFailed([Problem("until", "must not be earlier than since")])
        return self.store.list_runs(
            job_id=job_id,
            statuses=statuses,
            trigger_source=trigger_source,
            node=node,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
            as_of=self._clock(),
        )

    def run_stats(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        job_id: str | None = None,
    ) -> StatsReport:
        """Run statistics (see Store.run_stats) of the hours from the one holding `since` until
        `until` (by default the last 24 hours up to now), with totals for each of STATS_WINDOWS
        before now; of one job (also a removed one) or of all.

        Raises ValidationFailed when `since` or `until` is outside the years gnomon schedules in
        (1970-2199), `until` is not after `since`, or the range holds more than MAX_HOURS hours.
        """
        outside = [
            Problem(name, f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
            for name, value in (("since", since), ("until", until))
            if value is not None and not FIRST_INSTANT <= value < END_INSTANT
        ]
        if outside:
            raise ValidationFailed(outside)
        now = self._clock()
        until = until or now
        since = since or until - DEFAULT_STATS_RANGE
        if until <= since:
            raise ValidationFailed([Problem("until", "must be later than since")])
        if until - hour_start(since) > timedelta(hours=MAX_HOURS):
            days = MAX_HOURS // 24
            raise ValidationFailed(
                [Problem("since", f"must be at most {MAX_HOURS} hours ({days} days) before until")]
            )
        stats = self.store.run_stats(
            since,
            until,
            [now - window for window in STATS_WINDOWS.values()],
            as_of=now,
            job_id=job_id,
            duration_jobs=DURATION_JOBS,
        )
        return StatsReport(now, hour_start(since), until, stats)

    def job_timezone(self, job_id: str) -> ZoneInfo | None:
        """The timezone a job's run times are shown in, or None once the job is gone."""
        return self.job_timezones([job_id]).get(job_id)

    def job_timezones(self, job_ids: Iterable[str]) -> dict[str, ZoneInfo | None]:
        """Per job id, the timezone its run times are shown in (None once the job is gone)."""
        wanted = set(job_ids)
        triggers = self.store.job_triggers(wanted)
        return {job_id: _timezone(triggers.get(job_id)) for job_id in wanted}

    def get_run(self, run_id: str) -> Run:
        """One run with its output; raises RunNotFound."""
        return self.store.get_run(run_id)

    def resolve_run_id(self, given: str) -> str:
        """The full id of the one run whose id is `given` or starts with it (at least
        MIN_ID_PREFIX characters, in any case, its hyphens optional), as people type ids seen
        in a table.

        Raises RunNotFound when no run's id does, ValidationFailed when `given` is shorter,
        RunIdAmbiguous (listing up to AMBIGUOUS_LISTED of them) when several do.
        """
        if self.store.find_run(given) is not None:
            return given
        prefix = _hyphenated(given.strip().lower())
        if len(prefix.replace("-", "")) < MIN_ID_PREFIX:
            raise ValidationFailed(
                [Problem("run_id", f"give at least {MIN_ID_PREFIX} characters of the run id")],
                f"run id {given!r} is too short",
            )
        found = self.store.find_runs_by_id_prefix(prefix, AMBIGUOUS_LISTED + 1)
        if not found:
            raise RunNotFound(given)
        if len(found) > 1:
            listed = found[:AMBIGUOUS_LISTED]
            raise RunIdAmbiguous(given, [r.id for r in listed], len(found) > len(listed))
        return found[0].id

    def cancel_run(self, run_id: str, actor: Actor) -> Run:
        """Ask an active run to stop, and cancel the retry of it that waits out its backoff. A
        queued run no node has taken is cancelled at once.

        Raises RunNotFound, RunNotCancellable when the run has ended and no retry of it waits.
        """
        run = self.store.get_run(run_id)
        if not run.status.is_active:
            retry = self.store.find_retry(run_id)
            if retry is None or not retry.status.is_active:
                raise RunNotCancellable(run_id, run.status.value)
        now = self._clock()
        self.store.request_cancel(run_id, now)
        self.store.add_audit(
            AuditEntry(
                id=None,
                at=now,
                actor=actor.name,
                action="run.cancel",
                target=run.job_id,
                after={"run_id": run_id},
                client=actor.client,
                user_id=actor.user_id,
            )
        )
        if self._notify:
            self._notify("jobs")
        return self.store.get_run(run_id)


def _hyphenated(prefix: str) -> str:
    """A start of a UUID typed without its hyphens (``0196a1b20000``) with them put back."""
    if "-" in prefix or len(prefix) <= 8:
        return prefix
    cuts = [cut for cut in (8, 12, 16, 20) if cut < len(prefix)]
    pieces = [prefix[a:b] for a, b in zip([0, *cuts], [*cuts, len(prefix)], strict=True)]
    return "-".join(pieces)


def _timezone(trigger: Mapping[str, Any] | None) -> ZoneInfo | None:
    name = trigger.get("timezone") if trigger is not None else None
    if not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
