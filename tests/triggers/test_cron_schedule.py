"""Next fire times of cron triggers, with hand-computed expectations for each rule and special."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gnomon.triggers import CronTrigger


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fires(expression: str, zone: str, after: str, count: int) -> list[str]:
    """The next fire times, shown in the trigger's zone."""
    trigger = CronTrigger(expression, zone)
    return [t.astimezone(trigger.timezone).isoformat() for t in trigger.preview(at(after), count)]


def test_weekday_job_skips_the_weekend_in_shanghai() -> None:
    assert fires("0 30 2 * * mon-fri", "Asia/Shanghai", "2026-05-01T00:00:00+00:00", 3) == [
        "2026-05-04T02:30:00+08:00",
        "2026-05-05T02:30:00+08:00",
        "2026-05-06T02:30:00+08:00",
    ]


def test_results_are_utc_and_strictly_after() -> None:
    trigger = CronTrigger("0 0 * * *", "Asia/Shanghai")
    result = trigger.next_fire_time(at("2026-05-01T16:00:00+00:00"))  # exactly a fire time
    assert result == at("2026-05-02T16:00:00+00:00")
    assert result is not None
    assert result.tzinfo is UTC


def test_microseconds_after_a_fire_time_move_to_the_next_second() -> None:
    trigger = CronTrigger("* * * * * *", "UTC")
    assert trigger.next_fire_time(at("2026-05-01T00:00:00.5+00:00")) == at(
        "2026-05-01T00:00:01+00:00"
    )


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronTrigger("* * * * *", "UTC").next_fire_time(datetime(2026, 1, 1))


# --- DST: spring forward ---------------------------------------------------------------------


def test_new_york_time_in_the_gap_fires_when_the_gap_ends() -> None:
    assert fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00+00:00", 2) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_several_times_in_one_gap_fire_once() -> None:
    assert fires("0,30 2 * * *", "America/New_York", "2026-03-07T12:00:00+00:00", 3) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_every_hour_keeps_its_rhythm_through_the_gap() -> None:
    assert fires("30 * * * *", "America/New_York", "2026-03-08T06:00:00+00:00", 3) == [
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:30:00-04:00",
    ]


def test_london_gap() -> None:
    assert fires("30 1 * * *", "Europe/London", "2026-03-28T12:00:00+00:00", 2) == [
        "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:30:00+01:00",
    ]


def test_lord_howe_half_hour_gap() -> None:
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00+00:00", 3) == [
        "2026-10-03T02:15:00+10:30",
        "2026-10-04T02:30:00+11:00",
        "2026-10-05T02:15:00+11:00",
    ]


# --- DST: fall back --------------------------------------------------------------------------


def test_new_york_repeated_time_fires_once_at_its_first_occurrence() -> None:
    assert fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00+00:00", 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_hour_star_fires_in_both_occurrences() -> None:
    assert fires("30 * * * *", "America/New_York", "2026-11-01T04:00:00+00:00", 4) == [
        "2026-11-01T00:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:30:00-05:00",
    ]


def test_hour_star_from_inside_the_first_occurrence_finds_the_second() -> None:
    trigger = CronTrigger("30 * * * *", "America/New_York")
    # 01:45 EDT: the next 01:30 is the repeated one, 01:30 EST.
    assert trigger.next_fire_time(at("2026-11-01T05:45:00+00:00")) == at(
        "2026-11-01T06:30:00+00:00"
    )


def test_stepped_hours_are_not_hour_star() -> None:
    assert fires("30 */1 * * *", "America/New_York", "2026-11-01T05:00:00+00:00", 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T02:30:00-05:00",
    ]


def test_from_inside_the_second_occurrence_the_repeated_hour_is_over() -> None:
    trigger = CronTrigger("*/10 1 * * *", "America/New_York")
    # 01:05 EST: the 01:xx times of this night already fired in EDT.
    assert trigger.next_fire_time(at("2026-11-01T06:05:00+00:00")) == at(
        "2026-11-02T06:00:00+00:00"
    )


def test_london_fold() -> None:
    assert fires("30 1 * * *", "Europe/London", "2026-10-24T12:00:00+00:00", 2) == [
        "2026-10-25T01:30:00+01:00",
        "2026-10-26T01:30:00+00:00",
    ]


def test_lord_howe_half_hour_fold() -> None:
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00+00:00", 2) == [
        "2026-04-05T01:45:00+11:00",
        "2026-04-06T01:45:00+10:30",
    ]
    assert fires("45 * * * *", "Australia/Lord_Howe", "2026-04-04T14:00:00+00:00", 3) == [
        "2026-04-05T01:45:00+11:00",
        "2026-04-05T01:45:00+10:30",
        "2026-04-05T02:45:00+10:30",
    ]


# --- day specials ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 0 L * *", "2026-02-01", ["2026-02-28", "2026-03-31"]),
        ("0 0 0 L 2 *", "2027-03-01", ["2028-02-29", "2029-02-28"]),
        ("0 0 0 L-3 * *", "2026-02-01", ["2026-02-25", "2026-03-28"]),
        ("0 0 0 15W * *", "2026-08-01", ["2026-08-14", "2026-09-15"]),  # the 15th is a Saturday
        ("0 0 0 1W * *", "2026-07-05", ["2026-08-03", "2026-09-01"]),  # 1 Aug is a Saturday
        ("0 0 0 31W * *", "2026-05-01", ["2026-05-29", "2026-07-31"]),  # 31 May is a Sunday
        ("0 0 0 LW * *", "2026-05-01", ["2026-05-29", "2026-06-30"]),
        ("0 0 0 * * 5L", "2026-05-01", ["2026-05-29", "2026-06-26"]),
        ("0 0 0 * * 1#1", "2026-05-01", ["2026-05-04", "2026-06-01"]),
        ("0 0 0 * * 5#5", "2026-01-01", ["2026-01-30", "2026-05-29"]),
        ("0 0 0 1,L * *", "2026-04-15", ["2026-04-30", "2026-05-01"]),
        ("0 0 0 * * 0", "2026-05-01", ["2026-05-03", "2026-05-10"]),
        ("0 0 0 * * 7", "2026-05-01", ["2026-05-03", "2026-05-10"]),
        ("0 0 0 * * fri-sun", "2026-05-01", ["2026-05-02", "2026-05-03"]),
    ],
)
def test_day_specials(expression: str, after: str, expected: list[str]) -> None:
    got = fires(expression, "UTC", f"{after}T00:00:00+00:00", len(expected))
    assert got == [f"{day}T00:00:00+00:00" for day in expected]


def test_restricted_day_and_weekday_match_either() -> None:
    # The 13th (a Friday in March 2026) or any Monday.
    assert fires("0 0 0 13 * mon", "UTC", "2026-03-01T00:00:00+00:00", 4) == [
        "2026-03-02T00:00:00+00:00",
        "2026-03-09T00:00:00+00:00",
        "2026-03-13T00:00:00+00:00",
        "2026-03-16T00:00:00+00:00",
    ]


def test_star_step_day_must_match_both() -> None:
    # "*/10" starts with "*": days 1, 11, 21, 31 that are also Fridays.
    assert fires("0 0 0 */10 * 5", "UTC", "2026-01-01T00:00:00+00:00", 2) == [
        "2026-05-01T00:00:00+00:00",
        "2026-07-31T00:00:00+00:00",
    ]


def test_question_mark_leaves_the_other_day_field_in_charge() -> None:
    assert fires("0 0 0 ? * fri", "UTC", "2026-05-01T00:00:00+00:00", 2) == [
        "2026-05-08T00:00:00+00:00",
        "2026-05-15T00:00:00+00:00",
    ]


# --- years -----------------------------------------------------------------------------------


def test_a_year_field_ends_the_trigger() -> None:
    trigger = CronTrigger("0 0 0 1 1 * 2027", "UTC")
    assert trigger.preview(at("2026-01-01T00:00:00+00:00"), 5) == [at("2027-01-01T00:00:00+00:00")]


def test_nothing_after_2199() -> None:
    trigger = CronTrigger("@yearly", "UTC")
    assert trigger.next_fire_time(at("2199-01-01T00:00:00+00:00")) is None


def test_before_1970_starts_in_1970() -> None:
    trigger = CronTrigger("@yearly", "UTC")
    assert trigger.next_fire_time(at("1900-06-01T00:00:00+00:00")) == at(
        "1970-01-01T00:00:00+00:00"
    )


def test_every_second_preview_is_consecutive() -> None:
    trigger = CronTrigger("*/1 * * * * *", "Asia/Shanghai")
    times = trigger.preview(at("2026-12-31T15:59:58+00:00"), 4)
    assert [t.isoformat() for t in times] == [
        "2026-12-31T15:59:59+00:00",
        "2026-12-31T16:00:00+00:00",
        "2026-12-31T16:00:01+00:00",
        "2026-12-31T16:00:02+00:00",
    ]
