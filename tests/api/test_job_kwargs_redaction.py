"""Viewers see a job's kwargs keys (and how many args it has) but not their values, unless the
job makes them public; admins see them as declared, secret references unresolved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.api.conftest import JOBS, AuthActions, assert_ok

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "export"
target = "tests.engine.targets:prints"
args = ["${env:REPORT_DB_PASSWORD}", 7]
kwargs = { text = "hunter2", db = { password = "${env:REPORT_DB_PASSWORD}" }, rows = 5 }
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "digest"
target = "tests.engine.targets:prints"
args = ["monday"]
kwargs = { text = "weekly" }
public_kwargs = true
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""
DECLARED = {"text": "hunter2", "db": {"password": "${env:REPORT_DB_PASSWORD}"}, "rows": 5}
REDACTED = {"text": "***", "db": "***", "rows": "***"}


@pytest.fixture
def config_path(write_config: Callable[[str], Path]) -> Path:
    return write_config(CONFIG)


def kwargs_in_list(client: AuthActions) -> dict[str, Any]:
    return {job["id"]: job["kwargs"] for job in assert_ok(client.get(JOBS))}


def kwargs_in_detail(client: AuthActions, job_id: str) -> Any:
    return assert_ok(client.get(f"{JOBS}/{job_id}"))["kwargs"]


def args_in_list(client: AuthActions) -> dict[str, Any]:
    return {job["id"]: job["args"] for job in assert_ok(client.get(JOBS))}


def test_a_viewer_sees_the_keys_of_kwargs_but_not_their_values(auth: AuthActions) -> None:
    auth.login("viewer")
    assert kwargs_in_list(auth)["export"] == REDACTED
    assert kwargs_in_detail(auth, "export") == REDACTED
    assert args_in_list(auth)["export"] == ["***", "***"]


def test_a_viewer_sees_public_kwargs(auth: AuthActions) -> None:
    auth.login("viewer")
    listed = kwargs_in_list(auth)
    assert listed["digest"] == {"text": "weekly"}
    assert listed["gnomon.prune_runs"] == {"retention_days": 30}  # shipped: public
    assert kwargs_in_detail(auth, "digest") == {"text": "weekly"}
    assert args_in_list(auth)["digest"] == ["monday"]


def test_an_admin_sees_kwargs_as_declared_with_references_unresolved(
    admin: AuthActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORT_DB_PASSWORD", "resolved-secret")
    assert kwargs_in_list(admin)["export"] == DECLARED
    assert kwargs_in_detail(admin, "export") == DECLARED
    assert args_in_list(admin)["export"] == ["${env:REPORT_DB_PASSWORD}", 7]
    answer = assert_ok(admin.post(f"{JOBS}/export/actions/pause"))
    assert answer["kwargs"] == DECLARED


def test_cached_listings_are_kept_apart_for_admins_and_viewers(
    admin: AuthActions, app: Flask
) -> None:
    viewer = AuthActions(app.test_client())
    viewer.login("viewer")
    for _ in range(2):  # each after the other has filled the cache
        assert kwargs_in_list(admin)["export"] == DECLARED
        assert kwargs_in_list(viewer)["export"] == REDACTED
