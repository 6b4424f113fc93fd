"""Registering declared jobs in the store: at start-up (keeping state) and on reload (resetting it).

Pure functions of the current records, the declarations and `now`; the job service writes the
result in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gnomon.domain import JobDefinition, JobRecord
from gnomon.services.views import ReloadResult
from gnomon.store.base import JobWrite
from gnomon.triggers import load_trigger


@dataclass(frozen=True)
class Registration:
    writes: list[JobWrite]
    delete_ids: list[str]
    result: ReloadResult

    @property
    def changes_anything(self) -> bool:
        return bool(self.writes or self.delete_ids)


def first_fire_time(definition_trigger: dict[str, object], now: datetime) -> datetime | None:
    return load_trigger(definition_trigger).next_fire_time(now)


def sync_on_start(
    current: list[JobRecord], declared: list[JobDefinition], now: datetime
) -> Registration:
    """Bring the store in line with the declarations while keeping each job's state.

    New declarations are added; builtin jobs no longer declared are removed; ad-hoc jobs are left
    to the application that added them. A kept job keeps its pause state, its trigger override and
    its next fire time (so fire times missed while gnomon was down are still handled by the misfire
    policy) — unless its declared trigger changed and it was not overridden, in which case the new
    declared trigger applies from now.
    """
    by_id = {r.id: r for r in current}
    writes: list[JobWrite] = []
    added, changed = [], []
    for definition in declared:
        record = by_id.get(definition.id)
        if record is None:
            added.append(definition.id)
            record = JobRecord(
                definition=definition,
                trigger=definition.trigger,
                next_fire_time=first_fire_time(definition.trigger, now),
            )
            writes.append(JobWrite(record))
            continue
        if record.definition == definition:
            continue
        changed.append(definition.id)
        updated = record.replace(definition=definition)
        if not record.overridden and record.trigger != definition.trigger:
            next_time = None if record.paused else first_fire_time(definition.trigger, now)
            updated = updated.replace(trigger=definition.trigger, next_fire_time=next_time)
        elif record.overridden and record.trigger == definition.trigger:
            updated = updated.replace(trigger=definition.trigger)
        writes.append(JobWrite(updated, expected_revision=record.revision))
    declared_ids = {d.id for d in declared}
    removed = sorted(r.id for r in current if r.definition.is_builtin and r.id not in declared_ids)
    result = ReloadResult(
        deleted=removed, reloaded=[], added=added, removed=removed, changed=changed
    )
    return Registration(writes=writes, delete_ids=removed, result=result)


def reload_all(
    current: list[JobRecord], declared: list[JobDefinition], now: datetime
) -> Registration:
    """Remove every job and register the declared ones afresh (SPEC §5.3 reload).

    Overrides and pause states go back to the configuration; ad-hoc jobs are dropped. A kept job
    whose trigger is unchanged keeps its next fire time, so a reload never re-fires or skips one.
    """
    by_id = {r.id: r for r in current}
    writes: list[JobWrite] = []
    changed: list[str] = []
    for definition in declared:
        record = by_id.get(definition.id)
        next_time = first_fire_time(definition.trigger, now)
        if (
            record is not None
            and record.trigger == definition.trigger
            and not record.paused
            and record.next_fire_time is not None
        ):
            next_time = record.next_fire_time
        fresh = JobRecord(
            definition=definition, trigger=definition.trigger, next_fire_time=next_time
        )
        if record is not None and (
            record.definition != definition or record.overridden or record.paused
        ):
            changed.append(definition.id)
        writes.append(JobWrite(fresh))
    declared_ids = [d.id for d in declared]
    current_ids = sorted(by_id)
    result = ReloadResult(
        deleted=current_ids,
        reloaded=declared_ids,
        added=sorted(set(declared_ids) - set(current_ids)),
        removed=sorted(set(current_ids) - set(declared_ids)),
        changed=sorted(changed),
    )
    delete_ids = sorted(set(current_ids) - set(declared_ids))
    return Registration(writes=writes, delete_ids=delete_ids, result=result)
