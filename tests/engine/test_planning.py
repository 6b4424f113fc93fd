"""The misfire, coalesce and max_instances rules, as a pure function of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gnomon.domain import JobDefinition, JobKind, JobRecord, RunStatus
from gnomon.engine.planning import no_longer_due, plan_ahead, plan_fires
from gnomon.triggers import load_trigger, parse_trigger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVERY_10S = parse_trigger(
    {"trigger_type": "interval", "seconds": 10, "start_date": "2026-01-01T00:00:00Z"},
    default_timezone="UTC",
    now=T0,
)


def job(next_fire: datetime | None, **options: object) -> JobRecord:
    definition = JobDefinition(
        id="j",
        name="j",
        trigger=EVERY_10S.to_spec(),
        kind=JobKind.COMMAND,
        command=("true",),
        **options,  # type: ignore[arg-type]
    )
    return JobRecord(definition=definition, trigger=definition.trigger, next_fire_time=next_fire)


def plan(record: JobRecord, now: datetime, active: int = 0, down_until: datetime = T0):  # type: ignore[no-untyped-def]
    trigger = load_trigger(record.trigger)
    return plan_fires(record, trigger, now, active=active, node="n1", down_until=down_until)


def test_nothing_due_before_next_fire_time() -> None:
    result = plan(job(T0 + timedelta(seconds=10)), T0 + timedelta(seconds=9))
    assert result.records == []
    assert result.next_fire_time == T0 + timedelta(seconds=10)


def test_on_time_fire_runs_and_advances() -> None:
    result = plan(job(T0 + timedelta(seconds=10)), T0 + timedelta(seconds=10, milliseconds=3))
    [run] = result.records
    assert run.status == RunStatus.QUEUED
    assert run.scheduled_for == T0 + timedelta(seconds=10)
    assert result.to_execute == [run]
    assert result.next_fire_time == T0 + timedelta(seconds=20)


def test_late_fire_times_within_grace_coalesce_into_one_run() -> None:
    record = job(T0, misfire_grace_time=60, coalesce=True)
    result = plan(record, T0 + timedelta(seconds=35))
    [run] = result.records
    assert run.fire_count == 4  # 0, 10, 20, 30
    assert run.scheduled_for == T0
    assert run.last_scheduled_for == T0 + timedelta(seconds=30)
    assert result.next_fire_time == T0 + timedelta(seconds=40)


def test_without_coalesce_each_late_fire_time_runs() -> None:
    record = job(T0, misfire_grace_time=60, coalesce=False, max_instances=10)
    result = plan(record, T0 + timedelta(seconds=35))
    assert [r.fire_count for r in result.to_execute] == [1, 1, 1, 1]


def test_fire_times_beyond_grace_become_one_missed_record() -> None:
    record = job(T0, misfire_grace_time=15)
    now = T0 + timedelta(seconds=55)
    result = plan(record, now, down_until=now)
    missed, run = result.records
    assert missed.status == RunStatus.MISSED
    assert missed.reason == "scheduler_down"
    assert (missed.scheduled_for, missed.last_scheduled_for) == (T0, T0 + timedelta(seconds=30))
    assert missed.fire_count == 4  # 0, 10, 20, 30 are more than 15 s late
    assert run.status == RunStatus.QUEUED
    assert run.scheduled_for == T0 + timedelta(seconds=40)
    assert run.last_scheduled_for == T0 + timedelta(seconds=50)


def test_lateness_after_takeover_is_overloaded() -> None:
    record = job(T0 + timedelta(seconds=100), misfire_grace_time=5)
    result = plan(record, T0 + timedelta(seconds=107), down_until=T0)
    [missed] = result.records
    assert missed.reason == "overloaded"


def test_fire_beyond_max_instances_is_skipped() -> None:
    record = job(T0, max_instances=1)
    result = plan(record, T0, active=1)
    [skipped] = result.records
    assert skipped.status == RunStatus.SKIPPED
    assert skipped.reason == "max_instances"
    assert result.to_execute == []


def test_trigger_that_ends_leaves_no_next_fire_time() -> None:
    once = parse_trigger(
        {"trigger_type": "date", "run_date": "2026-01-01T00:00:05Z"}, default_timezone="UTC", now=T0
    )
    definition = JobDefinition(
        id="once", name="once", trigger=once.to_spec(), kind=JobKind.COMMAND, command=("true",)
    )
    record = JobRecord(definition, definition.trigger, next_fire_time=T0 + timedelta(seconds=5))
    result = plan_fires(record, once, T0 + timedelta(seconds=6), active=0, node="n", down_until=T0)
    assert len(result.to_execute) == 1
    assert result.next_fire_time is None


def test_long_outage_is_summarised_not_enumerated_forever() -> None:
    every_second = parse_trigger(
        {"trigger_type": "interval", "seconds": 1, "start_date": "2026-01-01T00:00:00Z"},
        default_timezone="UTC",
        now=T0,
    )
    definition = JobDefinition(
        id="busy",
        name="busy",
        trigger=every_second.to_spec(),
        kind=JobKind.COMMAND,
        command=("true",),
        misfire_grace_time=10,
    )
    record = JobRecord(definition, definition.trigger, next_fire_time=T0)
    now = T0 + timedelta(days=3)
    result = plan_fires(record, every_second, now, active=0, node="n", down_until=now)
    missed = result.records[0]
    assert missed.status == RunStatus.MISSED
    assert missed.fire_count == 100_000
    assert "cap" in (missed.error_message or "")
    assert result.next_fire_time is not None and result.next_fire_time > now


def test_fire_planned_ahead_is_one_queued_run_of_its_own_time() -> None:
    record = job(T0 + timedelta(seconds=10))
    trigger = load_trigger(record.trigger)
    now = T0 + timedelta(seconds=9, milliseconds=900)
    result = plan_ahead(record, trigger, T0 + timedelta(seconds=10), now=now, node="n1")
    [run] = result.records
    assert (run.status, run.scheduled_for, run.queued_at) == (
        RunStatus.QUEUED,
        T0 + timedelta(seconds=10),
        now,
    )
    assert run.fire_count == 1 and run.last_scheduled_for is None
    assert result.to_execute == [run]
    assert result.next_fire_time == T0 + timedelta(seconds=20)


def test_plan_starts_from_the_given_due_time_instead_of_the_stored_one() -> None:
    record = job(T0)  # stored: 0 s; the scheduler already fired it and now holds 10 s
    trigger = load_trigger(record.trigger)
    result = plan_fires(
        record, trigger, T0 + timedelta(seconds=10), active=0, node="n1", down_until=T0,
        due=T0 + timedelta(seconds=10),
    )  # fmt: skip
    [run] = result.records
    assert run.scheduled_for == T0 + timedelta(seconds=10)


def test_a_fire_no_longer_due_says_why_and_one_still_due_says_nothing() -> None:
    record = job(T0)
    trigger = load_trigger(record.trigger)
    on_time, off_time = T0 + timedelta(seconds=20), T0 + timedelta(seconds=25)
    assert no_longer_due(record, trigger, on_time) is None
    assert no_longer_due(record, trigger, off_time) == (
        "the job's trigger changed and no longer fires at this time"
    )
    assert no_longer_due(record.replace(paused=True), trigger, on_time) == (
        "the job was paused before this fire time"
    )
    assert no_longer_due(record, None, on_time) == "the job's trigger changed before this fire time"
