"""The job list's caches never serve a stale job: every change shows in the next listing."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from collections import Counter
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.engine import make_url

from gnomon.api.jsonprovider import OrjsonProvider
from gnomon.domain import Run, RunStatus, RunUpdate, TriggerSource, utcnow
from gnomon.services.documents import job_document
from gnomon.services.runtime import Runtime
from gnomon.services.views import SYSTEM, JobView
from gnomon.triggers import load_trigger
from tests.api.conftest import JOBS, AuthActions, assert_ok
from tests.api.test_scheduler_jobs import add_adhoc_job


def fresh_documents(runtime: Runtime, lang: str = "en") -> list[dict[str, Any]]:
    """The job list computed the slow way: every record decoded, no cache involved."""
    store = runtime.store
    running = Counter(r.job_id for r in store.active_runs() if r.status == RunStatus.RUNNING)
    latest = store.latest_runs()
    views = [
        JobView(
            record=record,
            trigger=load_trigger(record.trigger),
            declared_trigger=load_trigger(record.definition.trigger),
            running=running[record.id],
            last_run=latest.get(record.id),
        )
        for record in store.list_jobs()
    ]
    return [job_document(view, lang, reveal=True) for view in views]  # as admins see them


def listed(admin: AuthActions, lang: str = "en") -> list[dict[str, Any]]:
    return list(assert_ok(admin.get(JOBS, headers={"Accept-Language": lang})))


def item(admin: AuthActions, job_id: str, lang: str = "en") -> dict[str, Any]:
    return next(job for job in listed(admin, lang) if job["id"] == job_id)


def add_run(runtime: Runtime, job_id: str, status: RunStatus) -> Run:
    now = utcnow()
    run = Run(
        id=str(uuid.uuid4()),
        job_id=job_id,
        trigger_source=TriggerSource.SCHEDULED,
        status=status,
        queued_at=now,
        scheduled_for=now,
        started_at=now if status is RunStatus.RUNNING else None,
    )
    return runtime.store.add_run(run)


def test_repeated_listing_equals_a_fresh_read(admin: AuthActions, runtime: Runtime) -> None:
    for lang in ("en", "zh", "en", "zh"):
        assert listed(admin, lang) == fresh_documents(runtime, lang)


def test_listing_shows_a_trigger_change_at_once(admin: AuthActions, runtime: Runtime) -> None:
    assert item(admin, "report")["cron_expression"] == "0 30 2 * * mon-fri 2099"
    response = admin.put(f"{JOBS}/report", json={"trigger_type": "interval", "minutes": 7})
    assert_ok(response)
    job = item(admin, "report")
    assert job["trigger_type"] == "interval"
    assert job["cron_expression"] is None
    assert job["overridden"] is True
    assert listed(admin) == fresh_documents(runtime)


def test_listing_shows_pause_and_resume(admin: AuthActions, runtime: Runtime) -> None:
    assert item(admin, "sleeper")["state"] == "scheduled"
    assert_ok(admin.post(f"{JOBS}/sleeper/actions/pause"))
    assert item(admin, "sleeper")["state"] == "paused"
    assert item(admin, "sleeper")["next_run_time"] is None
    assert_ok(admin.post(f"{JOBS}/sleeper/actions/resume"))
    assert item(admin, "sleeper")["state"] == "scheduled"
    assert listed(admin) == fresh_documents(runtime)


def test_listing_shows_a_next_fire_time_moved_without_a_new_revision(
    admin: AuthActions, runtime: Runtime
) -> None:
    before = item(admin, "report")
    record = runtime.store.get_job("report")
    moved = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    runtime.store.set_next_fire_times({"report": (record.revision, moved)})
    assert runtime.store.get_job("report").revision == record.revision
    after = item(admin, "report")
    assert after["next_run_time"] == "2031-01-02T11:04:05+08:00"
    assert {k: v for k, v in after.items() if k != "next_run_time"} == {
        k: v for k, v in before.items() if k != "next_run_time"
    }


def test_listing_shows_a_change_committed_by_another_process(
    admin: AuthActions, runtime: Runtime
) -> None:
    listed(admin)
    listed(admin)
    database = make_url(runtime.config.store_url).database
    assert database
    with closing(sqlite3.connect(database)) as other:  # as `gnomon scheduler` elsewhere would
        other.execute(
            "UPDATE jobs SET next_fire_time = '2031-01-02 03:04:05.000000' WHERE id = 'report'"
        )
        other.commit()
    assert item(admin, "report")["next_run_time"] == "2031-01-02T11:04:05+08:00"
    assert listed(admin) == fresh_documents(runtime)


def test_listing_shows_runs_starting_and_finishing(admin: AuthActions, runtime: Runtime) -> None:
    assert item(admin, "frozen")["last_run_status"] is None
    run = add_run(runtime, "frozen", RunStatus.RUNNING)
    job = item(admin, "frozen")
    assert (job["running"], job["last_run_status"]) == (1, "running")
    assert job["last_run_time"] is not None
    finished = utcnow() + timedelta(seconds=1)
    runtime.store.update_runs(
        [RunUpdate(run.id, status=RunStatus.SUCCEEDED, finished_at=finished, duration_ms=1000)]
    )
    job = item(admin, "frozen")
    assert (job["running"], job["last_run_status"]) == (0, "succeeded")
    assert listed(admin) == fresh_documents(runtime)


def test_listing_shows_added_and_removed_jobs(admin: AuthActions, runtime: Runtime) -> None:
    listed(admin)
    add_adhoc_job(runtime, "zz_adhoc")
    assert "zz_adhoc" in [job["id"] for job in listed(admin)]
    runtime.jobs.remove_job("zz_adhoc", SYSTEM)
    assert "zz_adhoc" not in [job["id"] for job in listed(admin)]
    assert listed(admin) == fresh_documents(runtime)


def test_listing_is_per_language(admin: AuthActions) -> None:
    english = item(admin, "report", "en")["trigger_description"]
    chinese = item(admin, "report", "zh")["trigger_description"]
    assert english != chinese
    assert item(admin, "report", "en")["trigger_description"] == english


def test_a_job_rewritten_while_listing_is_read_again(runtime: Runtime) -> None:
    jobs = runtime.jobs
    activity = runtime.store.job_activity()  # type: ignore[attr-defined]
    jobs.pause("report", SYSTEM)  # a new revision after the snapshot
    jobs._loaded.clear()
    assert jobs._current_views(activity) is None  # the caller reads a new snapshot
    assert next(v for v in jobs.list_jobs() if v.id == "report").record.paused


def test_unchanged_store_gives_the_same_listing_object(runtime: Runtime) -> None:
    first = runtime.jobs.job_listing()
    assert runtime.jobs.job_listing() is first
    add_run(runtime, "report", RunStatus.SUCCEEDED)
    assert runtime.jobs.job_listing() is not first


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.5, None, True, "中文 é"], "nested": {"k": [{}]}},
        {"when": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "day": date(2024, 5, 6)},
        {"point": Point(1, 2), "id": uuid.UUID(int=5)},
        {1: "int key", "big": 2**70},
        ["\u2028", "\x00", "</script>"],
    ],
)
def test_orjson_answers_are_byte_for_byte_flasks(value: Any) -> None:
    app = Flask(__name__)
    fast, plain = OrjsonProvider(app), DefaultJSONProvider(app)
    for provider in (fast, plain):
        provider.ensure_ascii = False
        provider.sort_keys = False
    with app.app_context():
        assert fast.response(value).get_data() == plain.response(value).get_data()
        assert fast.dumps(value) == plain.dumps(value)


def test_pretty_printed_answers_embed_cached_parts() -> None:
    app = Flask(__name__)
    provider = OrjsonProvider(app)
    provider.compact = False
    data = {"jobs": [{"id": "a", "when": datetime(2024, 5, 6, tzinfo=UTC)}]}
    with app.app_context():
        body = provider.response({"data": provider.fragment(data)}).get_data()
    expected = {"jobs": [{"id": "a", "when": "Mon, 06 May 2024 00:00:00 GMT"}]}
    assert json.loads(body) == {"data": expected}
