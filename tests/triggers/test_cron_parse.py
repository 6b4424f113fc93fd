"""Reading cron expressions and the separate cron_* fields: normalised text and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers import CronTrigger


def normalised(expression: str) -> str:
    return CronTrigger(expression, "UTC").expression


def problems(expression: str) -> list[Problem]:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger(expression, "UTC")
    return caught.value.problems


def messages(expression: str) -> list[str]:
    return [problem.message for problem in problems(expression)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("30 2 * * 1-5", "0 30 2 * * 1-5 *"),
        ("0 30 2 * * mon-fri", "0 30 2 * * mon-fri *"),
        ("0 30 2 * * MON-FRI 2027", "0 30 2 * * mon-fri 2027"),
        ("  30   2 * *  * ", "0 30 2 * * * *"),
        ("00 05 * * *", "0 0 5 * * * *"),
        ("0 0 1 JAN,jul ?", "0 0 0 1 jan,jul * *"),
        ("0 0 ? * 5l", "0 0 0 * * 5L *"),
        ("0 0 l * *", "0 0 0 L * * *"),
        ("0 0 last * *", "0 0 0 L * * *"),
        ("0 0 l-3 * *", "0 0 0 L-3 * * *"),
        ("0 0 15w * *", "0 0 0 15W * * *"),
        ("0 0 lw * *", "0 0 0 LW * * *"),
        ("0 0 * * mon#2", "0 0 0 * * mon#2 *"),
        ("0 0 * * last fri", "0 0 0 * * 5L *"),
        ("0 0 * * 1st mon", "0 0 0 * * 1#1 *"),
        ("0 0 * * 2nd FRI", "0 0 0 * * 5#2 *"),
        ("0 0 last fri * *", "0 0 0 * * 5L *"),
        ("*/5 * * * *", "0 */5 * * * * *"),
        ("10-50/20 * * * * *", "10-50/20 * * * * * *"),
        ("5/15 * * * * *", "5/15 * * * * * *"),
        ("0 0 1,L * *", "0 0 0 1,L * * *"),
    ],
)
def test_expressions_are_normalised_to_seven_fields(expression: str, expected: str) -> None:
    assert normalised(expression) == expected


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@yearly", "0 0 0 1 1 * *"),
        ("@annually", "0 0 0 1 1 * *"),
        ("@monthly", "0 0 0 1 * * *"),
        ("@weekly", "0 0 0 * * 0 *"),
        ("@daily", "0 0 0 * * * *"),
        ("@midnight", "0 0 0 * * * *"),
        ("@HOURLY", "0 0 * * * * *"),
    ],
)
def test_macros_expand(macro: str, expected: str) -> None:
    assert normalised(macro) == expected


def test_normalised_text_reads_back_to_itself() -> None:
    for expression in ("0 0 last fri * *", "0 0 * * 2nd mon", "@weekly", "0 0 ? * 5l"):
        text = normalised(expression)
        assert normalised(text) == text


def test_trigger_args_are_the_seven_fields() -> None:
    trigger = CronTrigger("30 2 * * mon-fri", "Asia/Shanghai")
    assert trigger.trigger_args() == {
        "second": "0",
        "minute": "30",
        "hour": "2",
        "day": "*",
        "month": "*",
        "day_of_week": "mon-fri",
        "year": "*",
    }
    assert trigger.summary() == "cron[0 30 2 * * mon-fri *] Asia/Shanghai"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 * * 8", "day-of-week: '8' is out of range 0-7"),
        ("61 * * * *", "minute: '61' is out of range 0-59"),
        ("0 24 * * *", "hour: '24' is out of range 0-23"),
        ("0 0 0 * * * 1969", "year: '1969' is out of range 1970-2199"),
        ("0 0 0 * * * 2200", "year: '2200' is out of range 1970-2199"),
        ("0 0 0 32 * *", "day-of-month: '32' is out of range 1-31"),
        ("0 0 1 13 *", "month: '13' is out of range 1-12"),
        ("0 22-2 * * *", "hour: '22-2' is a reversed range"),
        ("0 0 * * fri-mon", "day-of-week: 'fri-mon' is a reversed range"),
        ("0 0 L-2W * *", "day-of-month: 'L-2W': L-nW is not supported"),
        ("0 0 L-31 * *", "day-of-month: 'L-31': the offset in L-n must be 1-30"),
        ("0 0 32W * *", "day-of-month: '32' is out of range 1-31"),
        ("0 0 * * 1#6", "day-of-week: '1#6': the n in d#n must be 1-5"),
        ("0 0 * * L", "day-of-week: 'L' alone is ambiguous"),
        ("0 L * * *", "hour: 'L' is not a valid value"),
        ("0 ? * * *", "hour: '?' is only allowed in day fields"),
        ("0 0 1,? * *", "day-of-month: '?' cannot be combined with other values"),
        ("0 *,5 * * *", "hour: '*' cannot be combined with other values"),
        ("0 0 L/2 * *", "day-of-month: 'L/2' is not a valid use of L or W"),
        ("*/0 * * * * *", "second: the step in '*/0' must be 1-60"),
        ("0 */x * * *", "hour: '*/x' has an invalid step 'x'"),
        ("0 0 1,,2 * *", "day-of-month: empty item in a list"),
        ("0 0 * foo *", "month: 'foo' is not a valid value"),
        ("0 0 * * funday", "day-of-week: 'funday' is not a valid value"),
        ("1 2 3 4", "'1 2 3 4' has 4 fields; expected 5"),
        ("@reboot", "unknown macro '@reboot'"),
        ("", "'' has 0 fields"),
    ],
)
def test_errors_name_the_field_and_the_text(expression: str, message: str) -> None:
    found = messages(expression)
    assert any(m.startswith(message) for m in found), found
    assert all(problem.field == "cron_expression" for problem in problems(expression))


def test_every_bad_field_is_reported() -> None:
    assert messages("61 25 * * 8") == [
        "minute: '61' is out of range 0-59",
        "hour: '25' is out of range 0-23",
        "day-of-week: '8' is out of range 0-7",
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 30 2 *",
        "0 0 31 4,6,9,11 *",
        "0 0 0 31W 4 * *",  # April has no 31st, so 31W never fires there
        "0 0 0 L-29 2 * *",
        "0 0 0 ? 2 5#5 2027",  # February 2027 has four Fridays
        "0 0 0 */10 2 5 2026",  # 1, 11, 21 February 2026 are not Fridays
    ],
)
def test_expressions_that_never_fire_are_rejected(expression: str) -> None:
    (message,) = messages(expression)
    assert "never fires" in message


# --- separate fields -------------------------------------------------------------------------


def from_fields(expression: str | None = None, **parts: str) -> str:
    return CronTrigger.from_fields(parts, "UTC", expression=expression).expression


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"cron_hour": "3"}, "0 0 3 * * * *"),
        ({"cron_hour": "3", "cron_minute": "30"}, "0 30 3 * * * *"),
        ({"cron_second": "15"}, "15 * * * * * *"),
        ({"cron_minute": "*/5"}, "0 */5 * * * * *"),
        ({"cron_day": "1"}, "0 0 0 1 * * *"),
        ({"cron_month": "6"}, "0 0 0 1 6 * *"),
        ({"year": "2027"}, "0 0 0 1 1 * 2027"),
        ({"cron_weekday": "mon"}, "0 0 0 * * mon *"),
        ({"cron_month": "6", "cron_weekday": "mon"}, "0 0 0 * 6 mon *"),
        ({"cron_day": "last fri"}, "0 0 0 * * 5L *"),
        ({"cron_day": "1st mon,3rd mon"}, "0 0 0 * * 1#1,1#3 *"),
        ({"cron_day": "1,last fri"}, "0 0 0 1 * 5L *"),
        ({"cron_day": "last"}, "0 0 0 L * * *"),
        ({"cron_weekday": "last fri", "cron_hour": "18"}, "0 0 18 * * 5L *"),
    ],
)
def test_separate_fields_default_as_the_spec_says(parts: dict[str, str], expected: str) -> None:
    assert from_fields(**parts) == expected


def test_separate_fields_override_parts_of_the_expression() -> None:
    assert from_fields("0 30 2 * * mon-fri", cron_hour="4", year="2030") == (
        "0 30 4 * * mon-fri 2030"
    )
    assert from_fields("30 2 * * *", cron_weekday="sat") == "0 30 2 * * sat *"


def test_errors_in_separate_fields_name_their_key() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger.from_fields({"cron_weekday": "8", "cron_hour": "25"}, "UTC")
    assert caught.value.problems == [
        Problem("cron_hour", "hour: '25' is out of range 0-23"),
        Problem("cron_weekday", "day-of-week: '8' is out of range 0-7"),
    ]


def test_word_forms_need_a_weekday_name() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger.from_fields({"cron_weekday": "last friday"}, "UTC")
    assert caught.value.problems == [
        Problem(
            "cron_weekday",
            "day-of-week: 'friday' in 'last friday' is not a weekday name (sun-sat)",
        )
    ]


def test_weekday_words_in_day_of_month_need_a_free_day_of_week() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger.from_fields({"cron_day": "last fri", "cron_weekday": "mon"}, "UTC")
    (problem,) = caught.value.problems
    assert problem.field == "cron_day"
    assert "names a weekday of the month" in problem.message


def test_never_firing_separate_fields_blame_a_given_key() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger.from_fields({"cron_day": "30", "cron_month": "2"}, "UTC")
    (problem,) = caught.value.problems
    assert problem.field == "cron_month"
    assert "never fires" in problem.message


def test_expressions_and_fields_longer_than_256_characters_are_refused_unread() -> None:
    longest = "0 0 * *  " + ",".join(["mon"] * 62)  # 256 characters, 62 items
    assert len(longest) == 256
    assert normalised(longest) == "0 0 0 * * mon *"
    assert problems(longest + " ") == [
        Problem("cron_expression", "is 257 characters long; at most 256 are allowed")
    ]
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger.from_fields({"cron_weekday": "5#5," * 100_000, "cron_hour": "2"}, "UTC")
    assert caught.value.problems == [
        Problem("cron_weekday", "is 400000 characters long; at most 256 are allowed")
    ]


def test_a_field_lists_at_most_64_items() -> None:
    seconds = ",".join(str(n % 60) for n in range(64))
    assert normalised(f"{seconds} 0 * * * *") == (
        ",".join(str(n) for n in range(60)) + " 0 * * * * *"
    )
    assert problems("0 0 * * " + ",".join(["1"] * 65)) == [
        Problem("cron_expression", "day-of-week: lists 65 items; at most 64 are allowed")
    ]


def test_an_item_given_twice_counts_once() -> None:
    assert normalised("0 0 * * 5#5,5#5,fri#5,5#5") == "0 0 0 * * 5#5,fri#5 *"
    assert normalised("0 0 1,1,L,L,15W,15W * *") == "0 0 0 1,L,15W * * *"


def test_unknown_timezone_names_the_timezone_field() -> None:
    with pytest.raises(TriggerInvalid) as caught:
        CronTrigger("@daily", "Mars/Olympus_Mons")
    assert caught.value.problems[0].field == "timezone"


_CRON_TOKENS = st.sampled_from(
    [
        *("0", "1", "5", "7", "12", "31", "59", "60", "2026", "*", "?", "/", "-", ",", "L", "W"),
        *("#", "l", "w", "mon", "FRI", "jan", "last", "1st", " ", " ", "  ", "@daily", "@"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_CRON_TOKENS, max_size=20).map("".join) | st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_trigger_invalid(text: str) -> None:
    try:
        trigger = CronTrigger(text, "UTC")
    except TriggerInvalid as exc:
        refused = exc.problems
    else:
        refused = []
    if refused:
        assert all(problem.field == "cron_expression" for problem in refused)
        return
    assert CronTrigger(trigger.expression, "UTC").expression == trigger.expression
    assert trigger.describe() and trigger.describe("zh")
