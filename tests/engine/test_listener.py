"""The change listener and publisher on a real PostgreSQL database."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from gnomon.domain import JobDefinition, JobKind, JobRecord, utcnow
from gnomon.engine.listener import (
    LEASE,
    MANUAL_RUN,
    ChangeListener,
    ChangePublisher,
    libpq_url,
)
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from tests.e2e.pg import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_database("gnomon_listener") as url:
        store = SqlStore(url)
        store.upgrade()
        store.close()
        yield url


def test_libpq_url_only_for_postgresql() -> None:
    assert libpq_url("postgresql+psycopg://u@h:5432/db") == "postgresql://u@h:5432/db"
    assert libpq_url("postgres://u@h/db?sslmode=require") == "postgresql://u@h/db?sslmode=require"
    assert libpq_url("sqlite:////tmp/gnomon.db") is None


def test_listener_hears_job_writes_and_published_manual_runs(pg_url: str) -> None:
    heard: queue.Queue[str] = queue.Queue()
    dsn = libpq_url(pg_url)
    assert dsn is not None
    listener = ChangeListener(dsn, heard.put, wait=0.1)
    publisher = ChangePublisher(dsn)
    store = SqlStore(pg_url)
    try:
        listener.start()
        assert heard.get(timeout=10) == "jobs"  # on connecting: whatever changed meanwhile
        trigger = {"type": "interval", "seconds": 1}
        definition = JobDefinition(
            id="j", name="j", trigger=trigger, kind=JobKind.COMMAND, command=("true",)
        )
        store.write_jobs([JobWrite(JobRecord(definition=definition, trigger=trigger))])
        assert heard.get(timeout=5) == "jobs"
        assert publisher.publish(MANUAL_RUN)
        assert heard.get(timeout=5) == MANUAL_RUN
        # A lease given up by its holder is announced; a release by anyone else is no release.
        assert store.acquire_lease("scheduler", "a", 30, utcnow()) is not None
        store.release_lease("scheduler", "b")
        store.release_lease("scheduler", "a")
        assert heard.get(timeout=5) == LEASE
    finally:
        listener.stop()
        publisher.close()
        store.close()
    assert heard.empty()


def test_publisher_gives_up_quietly_when_the_server_is_unreachable() -> None:
    publisher = ChangePublisher("postgresql://nobody@127.0.0.1:1/none", retry_after=60)
    assert not publisher.publish(MANUAL_RUN)
    assert not publisher.publish(MANUAL_RUN)  # no second connect attempt within retry_after
    publisher.close()
