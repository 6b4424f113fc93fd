"""Value objects: a job definition's stored form, old and new."""

from __future__ import annotations

import json

from gnomon.domain import Alerting, Event, Isolation, JobDefinition, Route
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
