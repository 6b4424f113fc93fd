"""Live output in the store, on SQLite and PostgreSQL: written only to a run still running on the
writing node, so a run that ended keeps its final output whatever a late live write says."""

from __future__ import annotations

from gnomon.domain import RunStatus, utcnow
from gnomon.store.base import OutputChunk
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, run


def test_a_live_write_never_touches_a_run_that_is_not_running_there(store: SqlStore) -> None:
    add_job(store, "backup")
    now = utcnow()
    going = run("backup", now, status=RunStatus.RUNNING, started_at=now, node="n1")
    done = run("backup", None, status=RunStatus.SUCCEEDED, node="n1", output="final")
    elsewhere = run("backup", None, status=RunStatus.RUNNING, node="n2", started_at=now)
    for r in (going, done, elsewhere):
        store.add_run(r)
    store.write_live_output(
        "n1",
        [
            OutputChunk(going.id, "so far\x00"),
            OutputChunk(done.id, "late"),
            OutputChunk(elsewhere.id, "not mine", append=True),
        ],
    )
    assert store.get_run(going.id).output == "so far␀"
    assert store.get_run(done.id).output == "final"
    assert store.get_run(elsewhere.id).output is None


def test_a_live_chunk_can_be_added_to_what_the_record_holds(store: SqlStore) -> None:
    add_job(store, "backup")
    now = utcnow()
    going = run("backup", now, status=RunStatus.RUNNING, started_at=now, node="n1")
    fresh = run("backup", None, status=RunStatus.RUNNING, started_at=now, node="n1")
    done = run("backup", None, status=RunStatus.FAILED, node="n1", output="final")
    for r in (going, fresh, done):
        store.add_run(r)
    store.write_live_output("n1", [OutputChunk(going.id, "one\n")])
    store.write_live_output(
        "n1",
        [
            OutputChunk(going.id, "two\x00\n", append=True),
            OutputChunk(fresh.id, "first", append=True),  # nothing stored yet
            OutputChunk(done.id, " late", append=True),
        ],
    )
    assert store.get_run(going.id).output == "one\ntwo␀\n"
    assert store.get_run(fresh.id).output == "first"
    assert store.get_run(done.id).output == "final"
    store.write_live_output("n1", [OutputChunk(going.id, "whole again")])
    assert store.get_run(going.id).output == "whole again"
