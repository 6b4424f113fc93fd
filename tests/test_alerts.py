"""The one rule deciding which events a run's outcome raises, and for which channels."""

from __future__ import annotations

import pytest

from gnomon.alerts import DEFAULT_EVENTS, events_for, needs_previous
from gnomon.domain import Event, Route, RunStatus

EVERYTHING = Route("ops", DEFAULT_EVENTS)
FAILURES_ONLY = Route("pager", frozenset({Event.FAILED, Event.TIMED_OUT}))


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (RunStatus.FAILED, Event.FAILED),
        (RunStatus.TIMED_OUT, Event.TIMED_OUT),
        (RunStatus.MISSED, Event.MISSED),
        (RunStatus.INTERRUPTED, Event.INTERRUPTED),
    ],
)
def test_each_failure_raises_its_own_event_on_the_channels_that_listen(
    status: RunStatus, event: Event
) -> None:
    raised = events_for(status, [EVERYTHING, FAILURES_ONLY])
    expected = [("ops", event)]
    if event in FAILURES_ONLY.events:
        expected.append(("pager", event))
    assert raised == expected


@pytest.mark.parametrize(
    "status", [RunStatus.SKIPPED, RunStatus.CANCELLED, RunStatus.QUEUED, RunStatus.RUNNING]
)
def test_skips_cancels_and_moves_that_are_not_final_outcomes_raise_nothing(
    status: RunStatus,
) -> None:
    assert events_for(status, [EVERYTHING], previous=RunStatus.FAILED) == []


@pytest.mark.parametrize(
    "previous",
    [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.MISSED, RunStatus.INTERRUPTED],
)
def test_a_success_after_a_failure_raises_recovered(previous: RunStatus) -> None:
    assert events_for(RunStatus.SUCCEEDED, [EVERYTHING, FAILURES_ONLY], previous) == [
        ("ops", Event.RECOVERED)
    ]


@pytest.mark.parametrize("previous", [None, RunStatus.SUCCEEDED])
def test_a_success_after_a_success_or_as_the_first_run_raises_nothing(
    previous: RunStatus | None,
) -> None:
    assert events_for(RunStatus.SUCCEEDED, [EVERYTHING], previous) == []


def test_the_previous_outcome_is_needed_only_for_a_success_someone_would_hear_recovered() -> None:
    assert needs_previous(RunStatus.SUCCEEDED, [FAILURES_ONLY, EVERYTHING])
    assert not needs_previous(RunStatus.SUCCEEDED, [FAILURES_ONLY])
    assert not needs_previous(RunStatus.FAILED, [EVERYTHING])
    assert not needs_previous(RunStatus.SUCCEEDED, [])
