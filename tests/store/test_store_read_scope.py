"""Store.reading: a request's point reads share one read transaction until it writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from gnomon.errors import JobNotFound
from gnomon.store.base import JobWrite
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job


@contextmanager
def transactions(store: SqlStore) -> Iterator[list[str]]:
    """Every transaction begun on the store's engine by this thread, as "begin"."""
    begun: list[str] = []
    me = threading.current_thread()

    def note(_conn: Any) -> None:
        if threading.current_thread() is me:
            begun.append("begin")

    event.listen(store._engine, "begin", note)
    try:
        yield begun
    finally:
        event.remove(store._engine, "begin", note)


def test_reads_in_a_scope_share_one_transaction(store: SqlStore) -> None:
    add_job(store, "a")
    with transactions(store) as begun:
        store.find_job("a")
        store.find_lease("scheduler")
    assert len(begun) == 2  # outside a scope, one each
    with transactions(store) as begun, store.reading():
        store.find_job("a")
        store.find_lease("scheduler")
        store.job_runs("a", 10)
        with store.reading():  # nested: part of the outer scope
            store.find_job("a")
    assert len(begun) == 1


def test_a_write_in_a_scope_ends_it_and_later_reads_see_the_write(store: SqlStore) -> None:
    record = add_job(store, "a")
    with transactions(store) as begun, store.reading():
        assert store.get_job("a").paused is False
        store.write_jobs([JobWrite(record.replace(paused=True), expected_revision=record.revision)])
        assert store.get_job("a").paused is True
    assert len(begun) == 3  # read, write, read


def test_a_scope_sees_writes_committed_by_others_before_its_first_read(store: SqlStore) -> None:
    record = add_job(store, "a")
    with store.reading():
        other = SqlStore(str(store._engine.url.render_as_string(hide_password=False)))
        try:
            other.write_jobs(
                [JobWrite(record.replace(paused=True), expected_revision=record.revision)]
            )
        finally:
            other.close()
        assert store.get_job("a").paused is True


def test_an_error_in_a_scope_gives_its_connection_back_and_the_next_read_works(
    store: SqlStore,
) -> None:
    add_job(store, "a")
    pool = store._engine.pool

    def fail_while_reading() -> None:
        with store._read():
            raise JobNotFound("b")

    with store.reading():
        store.find_job("a")
        with pytest.raises(JobNotFound):
            fail_while_reading()
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert store.get_job("a").id == "a"
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_scopes_are_per_thread(store: SqlStore) -> None:
    add_job(store, "a")
    seen: list[int] = []

    def elsewhere() -> None:
        with transactions(store) as begun:
            store.find_job("a")
            store.find_job("a")
        seen.append(len(begun))

    with store.reading():
        store.find_job("a")
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert seen == [2]
