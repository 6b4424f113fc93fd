"""Date triggers: one ISO 8601 instant, read in the trigger's timezone when naive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gnomon.errors import TriggerInvalid
from gnomon.triggers import DateTrigger, load_trigger, parse_trigger

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def parse(run_date: object, timezone: str | None = None) -> DateTrigger:
    data = {"trigger_type": "date", "run_date": run_date, "timezone": timezone}
    trigger = parse_trigger(data, default_timezone="Asia/Shanghai", now=NOW)
    assert isinstance(trigger, DateTrigger)
    return trigger


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T01:00:00", datetime(2026, 11, 29, 17, tzinfo=UTC)),  # naive: Asia/Shanghai
        ("2026-11-30T01:00:00Z", datetime(2026, 11, 30, 1, tzinfo=UTC)),
        ("2026-11-30T01:00:00+02:00", datetime(2026, 11, 29, 23, tzinfo=UTC)),
        ("2026-11-30", datetime(2026, 11, 29, 16, tzinfo=UTC)),  # midnight in Asia/Shanghai
        ("2026-11-30 01:00", datetime(2026, 11, 29, 17, tzinfo=UTC)),
    ],
)
def test_run_date_forms(text: str, expected: datetime) -> None:
    assert parse(text).run_date == expected


def test_naive_time_in_a_dst_gap_means_the_end_of_the_gap() -> None:
    trigger = parse("2027-03-14T02:30:00", "America/New_York")
    assert trigger.run_date == datetime(2027, 3, 14, 7, tzinfo=UTC)  # 03:00 EDT


def test_naive_repeated_time_means_its_first_occurrence() -> None:
    trigger = parse("2026-11-01T01:30:00", "America/New_York")
    assert trigger.run_date == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_fires_once() -> None:
    trigger = parse("2026-11-30T01:00:00")
    assert trigger.next_fire_time(NOW) == trigger.run_date
    assert trigger.next_fire_time(trigger.run_date) is None
    assert trigger.preview(NOW, 5) == [trigger.run_date]


def test_api_forms_carry_the_offset_of_the_trigger_timezone() -> None:
    trigger = parse("2026-11-30T01:00:00Z")
    assert trigger.trigger_args() == {"run_date": "2026-11-30T09:00:00+08:00"}
    assert trigger.summary() == "date[2026-11-30T09:00:00+08:00] Asia/Shanghai"
    assert trigger.to_spec() == {
        "type": "date",
        "run_date": "2026-11-30T09:00:00+08:00",
        "timezone": "Asia/Shanghai",
    }


def test_a_past_run_date_is_rejected_when_parsed_but_loads_from_storage() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        parse("2026-04-30T23:00:00Z")
    (problem,) = caught.value.problems
    assert problem.field == "run_date"
    assert "in the past" in problem.message
    stored = {"type": "date", "run_date": "2020-01-01T00:00:00+08:00", "timezone": "Asia/Shanghai"}
    trigger = load_trigger(stored)
    assert trigger.to_spec() == stored
    assert trigger.next_fire_time(NOW) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tomorrow", "'tomorrow' is not an ISO 8601 date or time"),
        ("", "is empty"),
        (1767225600, "must be an ISO 8601 string"),
        (None, "is required for a date trigger"),
        ("2200-01-01T00:00:00Z", "outside the years gnomon schedules in: 1970-01-01 to 2199-12-31"),
        ("9999-12-31T23:59:59-14:00", "outside the years gnomon schedules in"),
        ("9999-12-31T23:00:00", "outside the years gnomon schedules in"),
    ],
)
def test_bad_run_dates(value: object, message: str) -> None:
    with pytest.raises(TriggerInvalid) as caught:
        parse(value)
    (problem,) = caught.value.problems
    assert problem.field == "run_date"
    assert message in problem.message


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "date", "run_date": "2026-01-01T00:00:00", "timezone": "UTC"},  # no offset
        {"type": "date", "run_date": "soon", "timezone": "UTC"},
        {"type": "date", "run_date": "2026-01-01T00:00:00+00:00"},
        {"type": "date", "run_date": "2026-01-01T00:00:00+00:00", "timezone": "UTC", "x": 1},
        {"type": "date", "run_date": "0001-01-01T00:00:00+14:00", "timezone": "UTC"},
    ],
)
def test_load_rejects_garbage(spec: dict[str, Any]) -> None:
    with pytest.raises(TriggerInvalid):
        load_trigger(spec)
