"""CronTrigger agrees with a naive brute-force enumerator: around DST transitions and across months.

The enumerator (tests/triggers/bruteforce.py) knows each generated field's meaning directly, walks
every candidate wall time of a window, maps it to instants with zoneinfo round trips, and yields
the expected fire instants; CronTrigger.next_fire_time, iterated, must produce exactly those.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from gnomon.errors import TriggerInvalid
from gnomon.triggers import CronTrigger
from tests.triggers.bruteforce import Case, Choice, dates_between, expected_fires, transitions
from tests.triggers.strategies import (
    ANY_DAY,
    HOURS,
    MINUTES,
    SECONDS,
    days_of_month,
    days_of_week,
    months,
)

ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Shanghai", "UTC")
EVERY_DAY = Choice("*", test=lambda d: True)
EVERY_MONTH = Choice("*", frozenset(range(1, 13)))
EVERY_YEAR = Choice("*", frozenset(range(1970, 2200)))
YEARS = st.sampled_from(
    [
        EVERY_YEAR,
        *(Choice(str(y), frozenset({y})) for y in range(2024, 2029)),
        Choice("2025-2026", frozenset({2025, 2026})),
        Choice("*/2", frozenset(range(1970, 2200, 2))),
    ]
)
# Few wall times a day, so that long windows stay cheap to enumerate.
DAY_TIMES = st.sampled_from(
    [
        (Choice("0", frozenset({0})), Choice("30", frozenset({30})), Choice(h, frozenset(v)))
        for h, v in (("2", {2}), ("1,2", {1, 2}), ("0", {0}), ("*", set(range(24))), ("23", {23}))
    ]
)


@st.composite
def windows(draw: st.DrawFn, days: int) -> tuple[str, datetime, datetime]:
    """A zone and an instant window, most often starting shortly before one of its transitions."""
    zone = draw(st.sampled_from(ZONES))
    moments = transitions(zone)
    if moments and draw(st.integers(0, 4)) > 0:
        center = draw(st.sampled_from(moments))
        lead = timedelta(hours=draw(st.integers(0, 30)), minutes=draw(st.sampled_from([0, 17, 30])))
        start = center - lead
    else:
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 35000)))
    return zone, start, start + timedelta(days=days)


def check(case: Case, zone: str, start: datetime, end: datetime, fractions: list[float]) -> int:
    """Compare the trigger with the oracle over (start, end]; returns how many times compared."""
    tz = ZoneInfo(zone)
    trigger: CronTrigger | None = None
    try:
        trigger = CronTrigger(case.expression, tz)
    except TriggerInvalid as exc:
        refusal = str(exc)
    if trigger is None:
        assert "never fires" in refusal
        # 2024-2052 holds every calendar a year can have, and every year the tests generate.
        assert not any(map(case.date_matches, dates_between(date(2024, 1, 1), date(2052, 12, 31))))
        event("never fires")
        return 0
    expected = expected_fires(case, tz, start, end)
    got: list[datetime] = []
    moment = start
    while (following := trigger.next_fire_time(moment)) is not None and following <= end:
        got.append(following)
        moment = following
    assert got == expected, case.expression
    afters = [start + (end - start) * f for f in fractions]
    afters += [fire - timedelta(microseconds=1) for fire in expected[:3]]
    for after in afters:
        result = trigger.next_fire_time(after)
        later = [fire for fire in expected if fire > after]
        if later:
            assert result == later[0], (case.expression, after)
        else:
            assert result is None or result > end, (case.expression, after)
    compared = len(expected) + len(afters)
    event("fire times compared: " + ("0" if not compared else f"{10 ** (len(str(compared)) - 1)}+"))
    return compared


@settings(max_examples=4000, deadline=None)
@given(
    second=SECONDS,
    minute=MINUTES,
    hour=HOURS,
    weekday=st.one_of(st.just(EVERY_DAY), ANY_DAY, days_of_week()),
    window=windows(days=2),
    fractions=st.lists(st.floats(0, 1), max_size=6),
)
def test_times_of_day_match_brute_force_around_dst(
    second: Choice,
    minute: Choice,
    hour: Choice,
    weekday: Choice,
    window: tuple[str, datetime, datetime],
    fractions: list[float],
) -> None:
    assume(len(second.values) * len(minute.values) * len(hour.values) <= 500)
    case = Case(second, minute, hour, EVERY_DAY, EVERY_MONTH, weekday, EVERY_YEAR)
    check(case, *window, fractions)


@settings(max_examples=1000, deadline=None)
@given(
    times=DAY_TIMES,
    day=st.one_of(ANY_DAY, days_of_month()),
    weekday=st.one_of(ANY_DAY, days_of_week()),
    month=months(),
    year=YEARS,
    window=windows(days=150),
    fractions=st.lists(st.floats(0, 1), max_size=6),
)
def test_days_match_brute_force_across_months(
    times: tuple[Choice, Choice, Choice],
    day: Choice,
    weekday: Choice,
    month: Choice,
    year: Choice,
    window: tuple[str, datetime, datetime],
    fractions: list[float],
) -> None:
    case = Case(*times, day, month, weekday, year)
    check(case, *window, fractions)


@settings(max_examples=400, deadline=None)
@given(
    day=days_of_month(),
    weekday=days_of_week(),
    window=windows(days=400),
)
def test_or_rule_matches_brute_force_over_a_year(
    day: Choice, weekday: Choice, window: tuple[str, datetime, datetime]
) -> None:
    """Both day fields restricted: a day matching either fires."""
    zero, thirty = Choice("0", frozenset({0})), Choice("30", frozenset({30}))
    case = Case(zero, thirty, Choice("1", frozenset({1})), day, EVERY_MONTH, weekday, EVERY_YEAR)
    check(case, *window, [])
