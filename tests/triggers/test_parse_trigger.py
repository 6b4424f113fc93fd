"""parse_trigger validates user input; load_trigger rebuilds stored specs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers import (
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    Trigger,
    load_trigger,
    parse_trigger,
    resolve_timezone,
)

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def parse(data: Any) -> Trigger:
    return parse_trigger(data, default_timezone="Asia/Shanghai", now=NOW)


def problems(data: Any) -> list[Problem]:
    with pytest.raises(TriggerInvalid) as caught:
        parse(data)
    return caught.value.problems


def test_cron_expression_with_the_default_timezone() -> None:
    trigger = parse({"trigger_type": "cron", "cron_expression": "0 30 2 * * mon-fri"})
    assert isinstance(trigger, CronTrigger)
    assert trigger.to_spec() == {
        "type": "cron",
        "expression": "0 30 2 * * mon-fri *",
        "timezone": "Asia/Shanghai",
    }


def test_null_timezone_means_the_default() -> None:
    trigger = parse({"trigger_type": "cron", "cron_expression": "@daily", "timezone": None})
    assert trigger.timezone.key == "Asia/Shanghai"
    other = parse({"trigger_type": "cron", "cron_expression": "@daily", "timezone": "UTC"})
    assert other.timezone.key == "UTC"


def test_int_field_values_count_as_their_text() -> None:
    trigger = parse({"trigger_type": "cron", "cron_hour": 3, "cron_minute": 30})
    assert trigger.trigger_args()["hour"] == "3"
    assert isinstance(trigger, CronTrigger)
    assert trigger.expression == "0 30 3 * * * *"


def test_null_values_count_as_absent() -> None:
    trigger = parse(
        {"trigger_type": "cron", "cron_expression": "@daily", "cron_hour": None, "seconds": None}
    )
    assert isinstance(trigger, CronTrigger)


def test_cron_needs_an_expression_or_a_field() -> None:
    assert problems({"trigger_type": "cron"}) == [
        Problem("cron_expression", "is required: give an expression or separate cron_* fields")
    ]


def test_all_problems_are_collected_each_naming_its_key() -> None:
    found = problems(
        {
            "trigger_type": "cron",
            "cron_expression": "0 0 * * 8",
            "cron_hour": True,
            "seconds": 5,
            "run_date": "2027-01-01",
            "colour": "blue",
            "timezone": "Nowhere/Special",
        }
    )
    fields = [p.field for p in found]
    assert sorted(fields) == sorted(
        ["seconds", "run_date", "colour", "timezone", "cron_hour", "cron_expression"]
    )
    messages = {p.field: p.message for p in found}
    assert messages["seconds"] == "belongs to interval triggers, not cron triggers"
    assert messages["run_date"] == "belongs to date triggers, not cron triggers"
    assert messages["colour"] == "unknown key"
    assert messages["cron_hour"] == "must be a string, not True"
    assert "unknown timezone 'Nowhere/Special'" in messages["timezone"]
    assert messages["cron_expression"] == "day-of-week: '8' is out of range 0-7"


def test_the_config_files_short_key_names_are_refused_naming_the_right_ones() -> None:
    found = problems({"type": "cron", "expression": "@daily"})
    assert Problem("type", "unknown key; did you mean 'trigger_type'?") in found
    assert Problem("expression", "unknown key; did you mean 'cron_expression'?") in found


def test_bad_expression_and_bad_timezone_are_both_reported() -> None:
    found = problems({"trigger_type": "cron", "cron_expression": "0 0 * * 8", "timezone": "X/Y"})
    assert Problem("cron_expression", "day-of-week: '8' is out of range 0-7") in found
    assert [p.field for p in found] == ["timezone", "cron_expression"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "is required: 'cron', 'interval' or 'date'"),
        ({"trigger_type": "weekly"}, "must be 'cron', 'interval' or 'date', not 'weekly'"),
        ({"trigger_type": 1}, "must be 'cron', 'interval' or 'date', not 1"),
    ],
)
def test_trigger_type_is_required(data: dict[str, Any], message: str) -> None:
    assert problems(data)[0] == Problem("trigger_type", message)


def test_not_an_object() -> None:
    assert problems(["cron"])[0].message == "a trigger must be a JSON object"


def test_non_string_timezone() -> None:
    found = problems({"trigger_type": "interval", "seconds": 1, "timezone": 8})
    assert found == [Problem("timezone", "must be an IANA name, not 8")]


def test_a_past_year_never_fires() -> None:
    (problem,) = problems({"trigger_type": "cron", "cron_expression": "0 0 0 1 1 * 2025"})
    assert problem.field == "cron_expression"
    assert "never fires" in problem.message
    (problem,) = problems({"trigger_type": "cron", "year": "2025"})
    assert problem.field == "year"


def test_a_past_year_loads_from_storage_and_has_no_fire_time() -> None:
    trigger = load_trigger({"type": "cron", "expression": "0 0 0 1 1 * 2025", "timezone": "UTC"})
    assert trigger.next_fire_time(NOW) is None


@pytest.mark.parametrize(
    "data",
    [
        {"trigger_type": "cron", "cron_expression": "0 30 2 * * mon-fri"},
        {"trigger_type": "cron", "cron_day": "last fri", "cron_hour": 18, "timezone": "UTC"},
        {"trigger_type": "cron", "cron_expression": "@weekly", "timezone": "Australia/Lord_Howe"},
        {"trigger_type": "interval", "seconds": 2},
        {"trigger_type": "interval", "hours": 6, "jitter": 60, "start_date": "2026-01-01T03:00:00"},
        {"trigger_type": "date", "run_date": "2026-11-30T01:00:00"},
    ],
)
def test_stored_specs_rebuild_equal_triggers(data: dict[str, Any]) -> None:
    trigger = parse(data)
    spec = trigger.to_spec()
    rebuilt = load_trigger(spec)
    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.preview(NOW, 3) == trigger.preview(NOW, 3)


def test_specs_are_plain_json() -> None:
    import json

    for data in (
        {"trigger_type": "cron", "cron_expression": "@daily"},
        {"trigger_type": "interval", "minutes": 1},
        {"trigger_type": "date", "run_date": "2027-01-01"},
    ):
        spec = parse(data).to_spec()
        assert json.loads(json.dumps(spec)) == spec


@pytest.mark.parametrize(
    "spec",
    [
        None,
        "cron",
        {},
        {"type": "weekly"},
        {"type": "cron"},
        {"type": "cron", "expression": "0 0 * * 8", "timezone": "UTC"},
        {"type": "cron", "expression": "@daily", "timezone": "Nowhere/Special"},
        {"type": "cron", "expression": "@daily", "timezone": "UTC", "extra": 1},
        {"type": "cron", "expression": 5, "timezone": "UTC"},
    ],
)
def test_load_rejects_garbage(spec: Any) -> None:
    with pytest.raises(TriggerInvalid):
        load_trigger(spec)


def test_triggers_of_different_types_are_not_equal() -> None:
    cron = parse({"trigger_type": "cron", "cron_expression": "@daily"})
    interval = parse({"trigger_type": "interval", "days": 1})
    date = parse({"trigger_type": "date", "run_date": "2027-01-01"})
    assert len({cron, interval, date}) == 3
    assert isinstance(interval, IntervalTrigger)
    assert isinstance(date, DateTrigger)


def test_resolve_timezone() -> None:
    assert resolve_timezone("Europe/London").key == "Europe/London"
    for name in ("Mars/Base", "", "../etc/passwd", " UTC"):
        with pytest.raises(TriggerInvalid) as caught:
            resolve_timezone(name)
        assert caught.value.problems[0].field == "timezone"


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_trigger(
            {"trigger_type": "interval", "seconds": 1},
            default_timezone="UTC",
            now=datetime(2026, 1, 1),
        )
