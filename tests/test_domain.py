"""Value objects: a job definition's stored form, old and new."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from gnomon.domain import (
    Alerting,
    Event,
    Isolation,
    JobDefinition,
    Route,
    Run,
    RunStatus,
    TriggerSource,
)
from tests.engine.targets import python_job


def test_a_definition_round_trips_through_json_with_its_isolation() -> None:
    definition = python_job("pkg.jobs:nightly", isolation=Isolation.PROCESS)
    stored = json.loads(json.dumps(definition.to_json()))
    assert stored["isolation"] == "process"
    assert JobDefinition.from_json(stored) == definition


def test_a_definition_stored_before_isolation_existed_runs_in_a_thread() -> None:
    stored = python_job("pkg.jobs:nightly").to_json()
    del stored["isolation"]
    assert JobDefinition.from_json(stored).isolation is Isolation.THREAD


def test_a_definition_round_trips_through_json_with_its_channels() -> None:
    routes = (
        Route("ops", frozenset({Event.FAILED, Event.RECOVERED})),
        Route("mail", frozenset({Event.MISSED})),
    )
    definition = python_job("pkg.jobs:nightly", notify=routes)
    stored = json.loads(json.dumps(definition.to_json()))
    assert stored["notify"] == [
        {"channel": "ops", "on": ["failed", "recovered"]},
        {"channel": "mail", "on": ["missed"]},
    ]
    assert JobDefinition.from_json(stored) == definition
    assert definition.alerting == Alerting("j1", routes)


def test_a_definition_stored_before_notifications_existed_tells_no_channel() -> None:
    stored = python_job("pkg.jobs:nightly").to_json()
    del stored["notify"]
    definition = JobDefinition.from_json(stored)
    assert definition.notify == ()
    assert definition.alerting is None


def test_a_replaced_run_is_a_new_run_with_the_changes_and_unknown_fields_are_refused() -> None:
    run = Run(
        id="r1",
        job_id="j",
        trigger_source=TriggerSource.SCHEDULED,
        status=RunStatus.QUEUED,
        queued_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    started = run.replace(status=RunStatus.RUNNING, started_at=run.queued_at)
    assert started == dataclasses.replace(run, status=RunStatus.RUNNING, started_at=run.queued_at)
    assert run.status is RunStatus.QUEUED and run.started_at is None  # the original unchanged
    assert started is not run and hash(started) == hash(
        dataclasses.replace(run, status=RunStatus.RUNNING, started_at=run.queued_at)
    )
    with pytest.raises(TypeError, match="no field"):
        run.replace(statu=RunStatus.RUNNING)
    with pytest.raises(dataclasses.FrozenInstanceError):
        started.status = RunStatus.QUEUED  # type: ignore[misc]
