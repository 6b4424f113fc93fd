"""Hostile trigger input: parsing succeeds or raises TriggerInvalid, never anything else; what
parses previews quickly, in strictly increasing times, and survives its stored form."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gnomon.errors import TriggerInvalid
from gnomon.triggers import Trigger, load_trigger, parse_trigger
from gnomon.triggers.timezones import END_INSTANT
from tests.triggers.fuzz import (
    JSON,
    NOWS,
    ZONES,
    cron_expressions,
    stored_specs,
    trigger_inputs,
)

#: What one example may take to parse, preview 100 times, describe and reload, in CPU time of
#: this thread (other processes on the machine do not count). The slowest real ones take a few
#: ms; this is generous so that a busy machine cannot fail it, tight enough to catch a search
#: that wanders through the years.
BUDGET_S = 0.050
PREVIEW = 100  # the most the API previews
FUZZ = settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def parse(data: Any, now: datetime) -> Trigger | None:
    """The trigger, or None when refused with TriggerInvalid naming a field for each problem."""
    try:
        return parse_trigger(data, default_timezone="Asia/Shanghai", now=now)
    except TriggerInvalid as exc:
        refusal = exc
    assert refusal.problems, refusal
    for problem in refusal.problems:
        assert isinstance(problem.field, str) and problem.message, problem
    return None


def use(trigger: Trigger, now: datetime) -> list[datetime]:
    """What the API does with a trigger: preview, words, summary, the stored form reloaded."""
    times = trigger.preview(now, PREVIEW)
    assert trigger.describe("en") and trigger.describe("zh") and trigger.summary()
    assert load_trigger(trigger.to_spec()) == trigger
    return times


def timed(work: Callable[[], object]) -> float:
    """CPU seconds `work` takes; measured twice when over budget, so one collection of garbage
    or a preempted thread cannot fail an example, while a slow search still does."""
    best = float("inf")
    for _ in range(2):
        started = time.thread_time()
        work()
        best = min(best, time.thread_time() - started)
        if best < BUDGET_S:
            break
    return best


def check_accepted(trigger: Trigger, now: datetime) -> None:
    times = use(trigger, now)
    assert all(t.utcoffset() == timedelta(0) for t in times)  # aware, in UTC
    assert all(now < t < END_INSTANT for t in times), (trigger, now, times[:3])
    assert all(a < b for a, b in pairwise(times)), (trigger, times)
    if len(times) < PREVIEW:
        last = times[-1] if times else now
        assert trigger.next_fire_time(last) is None
    event(f"{trigger.type.value}: {'full' if len(times) == PREVIEW else 'ends'}")


def run_example(data: Any, now: datetime) -> None:
    def work() -> None:
        trigger = parse(data, now)
        if trigger is not None:
            check_accepted(trigger, now)
        else:
            event("refused")

    spent = timed(work)
    # --hypothesis-show-statistics shows how the times spread.
    event(
        "CPU time " + next(f"< {ms} ms" for ms in (1, 5, 20, 50, float("inf")) if spent * 1000 < ms)
    )
    assert spent < BUDGET_S, f"{data!r} from {now}: {spent * 1000:.1f} ms"


@FUZZ
@given(data=trigger_inputs(), now=NOWS)
def test_trigger_input_parses_or_is_refused_and_previews_quickly(
    data: dict[str, object], now: datetime
) -> None:
    run_example(data, now)


@settings(FUZZ, max_examples=700)
@given(expression=cron_expressions(), zone=st.sampled_from(ZONES), now=NOWS)
def test_cron_expression_in_any_zone_parses_or_is_refused_and_previews_quickly(
    expression: str, zone: str, now: datetime
) -> None:
    data = {"trigger_type": "cron", "cron_expression": expression, "timezone": zone}
    run_example(data, now)


@settings(FUZZ, max_examples=200)
@given(data=JSON, now=NOWS)
def test_any_json_value_parses_or_is_refused(data: object, now: datetime) -> None:
    run_example(data, now)


@settings(FUZZ, max_examples=200)
@given(spec=st.one_of(JSON, stored_specs()))
def test_any_stored_spec_loads_or_is_refused(spec: Any) -> None:
    """A damaged row in the store is refused like bad input, never a crash of the loader."""
    try:
        trigger = load_trigger(spec)
    except TriggerInvalid:
        return
    times = trigger.preview(datetime(2026, 1, 1, tzinfo=UTC), 3)
    assert all(a < b for a, b in pairwise(times))
