"""What to record when a job's fire times come due: runs, coalesced runs, misses and skips.

A pure function of the job, its trigger, the instant and how many of its runs are active, so the
misfire rules (SPEC §4.2, §4.3) are tested without clocks or threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gnomon.domain import JobRecord, MissReason, Run, RunStatus, TriggerSource
from gnomon.ids import new_run_id
from gnomon.triggers import Trigger

#: Fire times counted one by one before a long outage is summarised by skipping ahead.
MAX_ENUMERATED = 100_000


def no_longer_due(record: JobRecord, trigger: Trigger | None, when: datetime | None) -> str | None:
    """Why a fire claimed for `when` no longer belongs to its job as it is now (`record`, with
    its loaded `trigger`; None: unreadable), or None when it still does: the job was paused, or
    its trigger changed and no longer fires at that time."""
    if record.paused:
        return "the job was paused before this fire time"
    if trigger is None or when is None:
        return "the job's trigger changed before this fire time"
    if not trigger.fires_at(when):
        return "the job's trigger changed and no longer fires at this time"
    return None


@dataclass
class FirePlan:
    """The records one job's due fire times produce, and where its schedule goes next."""

    records: list[Run] = field(default_factory=list)  # every row to claim, in time order
    to_execute: list[Run] = field(default_factory=list)  # the subset to hand to a worker
    next_fire_time: datetime | None = None


def plan_fires(
    record: JobRecord,
    trigger: Trigger,
    now: datetime,
    *,
    active: int,
    node: str,
    down_until: datetime,
    due: datetime | None = None,
    token: int | None = None,
) -> FirePlan:
    """Turn the job's fire times due at `now` (from `due`, by default its stored next_fire_time,
    on) into records.

    Fire times later than the grace time are one `missed` record per contiguous span, with the
    reason `scheduler_down` when the span began before `down_until` (the moment this scheduler
    took over), else `overloaded`. Fire times within grace run — one run for all of them when the
    job coalesces — unless `max_instances` runs are already active, which records `skipped`.
    """
    first = record.next_fire_time if due is None else due
    plan = FirePlan(next_fire_time=first)
    if first is None or first > now:
        return plan
    definition = record.definition
    grace = timedelta(seconds=definition.misfire_grace_time)
    late: list[datetime] = []
    on_time: list[datetime] = []
    truncated = False
    current: datetime | None = first
    while current is not None and current <= now:
        if now - current <= grace:
            on_time.append(current)
        elif len(late) < MAX_ENUMERATED:
            late.append(current)
        else:
            # A long outage of a frequent job: stop counting and resume at the grace boundary.
            truncated = True
            current = trigger.next_fire_time(now - grace - timedelta(microseconds=1))
            continue
        current = trigger.next_fire_time(current)
    plan.next_fire_time = current

    if late:
        reason = MissReason.SCHEDULER_DOWN if late[0] < down_until else MissReason.OVERLOADED
        message = f"{len(late)} fire time(s) later than the {definition.misfire_grace_time}s grace"
        if truncated:
            message = f"more than {MAX_ENUMERATED} fire times missed; counted up to that cap"
        plan.records.append(
            _record(
                record, late[0], late[-1], len(late), RunStatus.MISSED, now, node, reason, token
            ).replace(finished_at=now, error_message=message)
        )
    batches = [on_time] if definition.coalesce and on_time else [[t] for t in on_time]
    for batch in batches:
        if active >= definition.max_instances:
            skipped = _record(
                record,
                batch[0],
                batch[-1],
                len(batch),
                RunStatus.SKIPPED,
                now,
                node,
                MissReason.MAX_INSTANCES,
                token,
            )
            plan.records.append(skipped.replace(finished_at=now))
            continue
        run = _record(
            record, batch[0], batch[-1], len(batch), RunStatus.QUEUED, now, node, None, token
        )
        plan.records.append(run)
        plan.to_execute.append(run)
        active += 1
    return plan


def plan_ahead(
    record: JobRecord,
    trigger: Trigger,
    when: datetime,
    *,
    now: datetime,
    node: str,
    token: int | None = None,
) -> FirePlan:
    """The run of the job's next fire time `when`, claimed at `now`, shortly before it is due.

    Only for a job with no run active, whose fire time is not yet due: such a fire is neither late
    nor beyond `max_instances`, so it is always one queued run of one fire time.
    """
    run = _record(record, when, when, 1, RunStatus.QUEUED, now, node, None, token)
    return FirePlan(records=[run], to_execute=[run], next_fire_time=trigger.next_fire_time(when))


def _record(
    record: JobRecord,
    first: datetime,
    last: datetime,
    count: int,
    status: RunStatus,
    now: datetime,
    node: str,
    reason: MissReason | None,
    token: int | None = None,
) -> Run:
    return Run(
        id=new_run_id(),
        job_id=record.id,
        trigger_source=TriggerSource.SCHEDULED,
        status=status,
        queued_at=now,
        scheduled_for=first,
        last_scheduled_for=last if count > 1 else None,
        fire_count=count,
        node=node,
        reason=reason.value if reason else None,
        lease_token=token,
    )
