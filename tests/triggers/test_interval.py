"""Interval triggers: elapsed time from an anchor, DST ignored, jitter kept for the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers import IntervalTrigger, load_trigger, parse_trigger

NOW = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)


def parse(**data: Any) -> IntervalTrigger:
    trigger = parse_trigger(
        {"trigger_type": "interval", **data}, default_timezone="Asia/Shanghai", now=NOW
    )
    assert isinstance(trigger, IntervalTrigger)
    return trigger


def problems(**data: Any) -> list[Problem]:
    with pytest.raises(TriggerInvalid) as caught:
        parse(**data)
    return caught.value.problems


def test_default_anchor_is_now_to_the_second() -> None:
    trigger = parse(seconds=2)
    assert trigger.start_date == datetime(2026, 5, 1, 8, 0, 0, tzinfo=UTC)
    assert trigger.next_fire_time(NOW) == datetime(2026, 5, 1, 8, 0, 2, tzinfo=UTC)
    assert trigger.to_spec() == {
        "type": "interval",
        "weeks": 0,
        "days": 0,
        "hours": 0,
        "minutes": 0,
        "seconds": 2,
        "start_date": "2026-05-01T08:00:00+00:00",
        "jitter": None,
        "timezone": "Asia/Shanghai",
    }
    assert trigger.summary() == "interval[0:00:02] Asia/Shanghai"


def test_the_phase_survives_a_reload() -> None:
    trigger = parse(minutes=7)
    reloaded = load_trigger(trigger.to_spec())
    assert reloaded == trigger
    later = NOW + timedelta(days=3, seconds=11)
    assert reloaded.next_fire_time(later) == trigger.next_fire_time(later)
    fire = reloaded.next_fire_time(later)
    assert fire is not None
    assert (fire - trigger.start_date) % timedelta(minutes=7) == timedelta(0)


def test_fire_times_are_strictly_after() -> None:
    trigger = parse(hours=1)
    on_the_hour = datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert trigger.next_fire_time(on_the_hour) == datetime(2026, 5, 1, 11, tzinfo=UTC)


def test_a_future_start_date_is_the_first_fire() -> None:
    trigger = parse(days=1, start_date="2026-06-01T09:00:00")
    assert trigger.next_fire_time(NOW) == datetime(2026, 6, 1, 1, tzinfo=UTC)  # 09:00 +08:00
    assert trigger.trigger_args()["start_date"] == "2026-06-01T09:00:00+08:00"


def test_start_date_forms() -> None:
    assert parse(hours=1, start_date="2026-01-01").start_date == datetime(
        2025, 12, 31, 16, tzinfo=UTC
    )
    assert parse(hours=1, start_date="2026-01-01T00:00:00Z").start_date == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    zoned = parse(hours=1, start_date="2026-01-01T00:00:00-05:00", timezone="UTC")
    assert zoned.start_date == datetime(2026, 1, 1, 5, tzinfo=UTC)


def test_dst_does_not_move_an_interval() -> None:
    trigger = parse(hours=1, start_date="2026-03-08T00:00:00", timezone="America/New_York")
    times = trigger.preview(datetime(2026, 3, 8, 5, tzinfo=UTC), 4)
    assert [b - a for a, b in pairwise(times)] == [timedelta(hours=1)] * 3
    shown = [t.astimezone(trigger.timezone).strftime("%H:%M%z") for t in times]
    assert shown == ["01:00-0500", "03:00-0400", "04:00-0400", "05:00-0400"]


def test_jitter_is_stored_not_applied() -> None:
    trigger = parse(minutes=5, jitter=30)
    assert trigger.jitter == 30
    assert trigger.to_spec()["jitter"] == 30
    assert trigger.next_fire_time(NOW) == datetime(2026, 5, 1, 8, 5, tzinfo=UTC)
    assert trigger.trigger_args() == {
        "weeks": 0,
        "days": 0,
        "hours": 0,
        "minutes": 5,
        "seconds": 0,
        "start_date": "2026-05-01T16:00:00+08:00",
        "jitter": 30,
    }


def test_all_units_combine() -> None:
    trigger = parse(weeks=1, days=2, hours=3, minutes=4, seconds=5)
    assert trigger.period == timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)
    assert trigger.summary() == "interval[9 days, 3:04:05] Asia/Shanghai"


def test_at_least_one_unit_must_be_positive() -> None:
    (problem,) = problems(seconds=0)
    assert problem.field == "seconds"
    assert (
        "at least one of weeks, days, hours, minutes, seconds must be positive" in problem.message
    )
    assert problems()[0].message == problem.message


def test_every_bad_value_is_reported() -> None:
    found = problems(hours=-1, seconds=True, minutes=1.5, days="2", jitter=-3, start_date=5)
    assert {p.field for p in found} == {
        "hours",
        "seconds",
        "minutes",
        "days",
        "jitter",
        "start_date",
    }


def test_unreadable_start_date() -> None:
    (problem,) = problems(seconds=5, start_date="next tuesday")
    assert problem.field == "start_date"
    assert "'next tuesday' is not an ISO 8601 date or time" in problem.message


@pytest.mark.parametrize(
    "start",
    ["1969-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "0001-01-01", "2200-01-01T00:00:00Z"],
)
def test_start_date_lies_in_the_supported_years(start: str) -> None:
    (problem,) = problems(seconds=5, start_date=start)
    assert problem.field == "start_date"
    assert "outside the years gnomon schedules in: 1970-01-01 to 2199-12-31" in problem.message


def test_no_fire_time_after_2199() -> None:
    trigger = parse(weeks=1_000_000, start_date="2199-12-31T23:59:59Z")
    assert trigger.next_fire_time(NOW) == datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert trigger.next_fire_time(trigger.start_date) is None
    hourly = parse(hours=1, start_date="2199-12-31T22:30:00Z")
    assert hourly.preview(NOW, 10) == [
        datetime(2199, 12, 31, 22, 30, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 30, tzinfo=UTC),
    ]


def test_python_api_requires_an_aware_start() -> None:
    with pytest.raises(TriggerInvalid):
        IntervalTrigger(seconds=1, start_date=datetime(2026, 1, 1), timezone="UTC")


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "interval", "seconds": 1, "timezone": "UTC"},  # no start_date
        {"type": "interval", "seconds": 1, "start_date": "2026-01-01T00:00:00", "timezone": "UTC"},
        {"type": "interval", "start_date": "2026-01-01T00:00:00+00:00", "timezone": "UTC"},
        {
            "type": "interval",
            "seconds": 1,
            "start_date": "9999-12-31T23:00:00-14:00",
            "timezone": "UTC",
        },
        {"type": "interval", "seconds": "1", "start_date": "2026-01-01T00:00:00+00:00"},
        {
            "type": "interval",
            "seconds": 1,
            "start_date": "2026-01-01T00:00:00+00:00",
            "timezone": "UTC",
            "every": 3,
        },
    ],
)
def test_load_rejects_garbage(spec: dict[str, Any]) -> None:
    with pytest.raises(TriggerInvalid):
        load_trigger(spec)
