"""Value objects: a job definition's stored form, old and new."""

from __future__ import annotations

import json

from gnomon.domain import Isolation, JobDefinition
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
