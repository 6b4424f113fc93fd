"""The Store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gnomon.domain import (
    AuditEntry,
    AuditFilter,
    Isolation,
    JobDefinition,
    JobKind,
    JobRecord,
    Lease,
    Node,
    Role,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
    utcnow,
)
from gnomon.errors import (
    JobChanged,
    JobNotFound,
    RunNotFound,
    StoreError,
    StoreNotReady,
    TokenNotFound,
    UserExists,
    UserNotFound,
    ValidationFailed,
)
from gnomon.store import create_store
from gnomon.store.base import FireClaim, JobWrite, LeaseLost, RunStart
from gnomon.store.sql import SqlStore

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CRON = {"type": "cron", "expression": "* * * * *", "timezone": "UTC"}


def job(job_id: str = "backup", **changes: Any) -> JobRecord:
    definition = JobDefinition(
        id=job_id,
        name=job_id.title(),
        trigger=CRON,
        kind=JobKind.COMMAND,
        command=("echo", "hi"),
        kwargs={"n": 1, "nested": {"ok": True}},
        env={"A": "b"},
        timeout=2.5,
    )
    return JobRecord(definition=definition, trigger=CRON).replace(**changes)


def run(
    job_id: str = "backup",
    scheduled_for: datetime | None = T0,
    *,
    queued_at: datetime | None = None,
    **changes: Any,
) -> Run:
    manual = scheduled_for is None
    return Run(
        id=str(uuid.uuid4()),
        job_id=job_id,
        trigger_source=TriggerSource.MANUAL if manual else TriggerSource.SCHEDULED,
        status=RunStatus.QUEUED,
        queued_at=queued_at or scheduled_for or T0,
        scheduled_for=scheduled_for,
    ).replace(**changes)


def claim(r: Run, revision: int, next_fire_time: datetime | None = None) -> FireClaim:
    return FireClaim(run=r, expected_revision=revision, next_fire_time=next_fire_time)


def add_job(store: SqlStore, job_id: str = "backup", **changes: Any) -> JobRecord:
    (record,) = store.write_jobs([JobWrite(job(job_id, **changes))])
    return record


def count_runs(store: SqlStore) -> int:
    return len(store.list_runs(limit=100_000).items)


# --- jobs ----------------------------------------------------------------------------------------


def test_job_roundtrip_keeps_definition_and_aware_utc_times(store: SqlStore) -> None:
    local = datetime(2030, 1, 1, 20, 0, tzinfo=datetime.now().astimezone().tzinfo)
    override = {"type": "interval", "seconds": 30, "timezone": "Asia/Shanghai"}
    (written,) = store.write_jobs(
        [JobWrite(job("backup", trigger=override, paused=True, next_fire_time=local))]
    )
    found = store.get_job("backup")
    assert found == written
    assert found.definition == job("backup").definition
    assert found.trigger == override
    assert found.overridden
    assert found.paused is True
    assert found.next_fire_time == local
    for value in (found.next_fire_time, found.created_at, found.updated_at):
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert store.list_jobs() == [found]


def test_a_python_jobs_isolation_is_stored(store: SqlStore) -> None:
    definition = dataclasses.replace(
        job().definition,
        kind=JobKind.PYTHON,
        command=None,
        target="pkg.jobs:nightly",
        isolation=Isolation.PROCESS,
    )
    store.write_jobs([JobWrite(JobRecord(definition=definition, trigger=CRON))])
    assert store.get_job("backup").definition == definition


def test_get_job_raises_and_find_job_returns_none_for_missing_job(store: SqlStore) -> None:
    assert store.find_job("nope") is None
    with pytest.raises(JobNotFound):
        store.get_job("nope")


def test_list_jobs_is_sorted_by_id(store: SqlStore) -> None:
    store.write_jobs([JobWrite(job(i)) for i in ("c", "a", "b")])
    assert [j.id for j in store.list_jobs()] == ["a", "b", "c"]


def test_each_write_gives_a_new_greater_revision_and_keeps_created_at(store: SqlStore) -> None:
    first = add_job(store)
    (second,) = store.write_jobs([JobWrite(first.replace(paused=True), first.revision)])
    assert second.revision > first.revision
    assert second.created_at == first.created_at
    assert second.updated_at is not None
    assert first.updated_at is not None
    assert second.updated_at >= first.updated_at
    assert store.get_job("backup") == second


def test_write_with_stale_revision_raises_job_changed_and_writes_nothing(store: SqlStore) -> None:
    first = add_job(store)
    add_job(store, "other")
    store.write_jobs([JobWrite(first.replace(paused=True), first.revision)])
    counter = store.change_counter()
    entry = AuditEntry(id=None, at=T0, actor="alice", action="job.pause", target="backup")
    with pytest.raises(JobChanged) as caught:
        store.write_jobs(
            [JobWrite(job("new")), JobWrite(first.replace(paused=False), first.revision)],
            delete_ids=["other"],
            audit=[entry],
        )
    assert caught.value.job_id == "backup"
    assert store.get_job("backup").paused is True
    assert store.find_job("new") is None
    assert store.find_job("other") is not None
    assert store.change_counter() == counter
    assert store.list_audit() == []


def test_write_expecting_a_job_that_does_not_exist_raises_job_changed(store: SqlStore) -> None:
    with pytest.raises(JobChanged):
        store.write_jobs([JobWrite(job("ghost"), expected_revision=3)])
    assert store.find_job("ghost") is None


def test_change_counter_grows_with_every_write_even_deletes(store: SqlStore) -> None:
    assert store.change_counter() == 0
    record = add_job(store)
    after_insert = store.change_counter()
    assert after_insert > 0
    assert record.revision == after_insert
    store.write_jobs([], delete_ids=["backup"])
    assert store.change_counter() > after_insert
    assert store.find_job("backup") is None


def test_list_jobs_changed_returns_jobs_written_after_a_counter_and_all_ids(
    store: SqlStore,
) -> None:
    store.write_jobs([JobWrite(job("a")), JobWrite(job("b")), JobWrite(job("c"))])
    seen = store.change_counter()
    assert store.list_jobs_changed(seen) == ([], {"a", "b", "c"})
    [b] = store.write_jobs([JobWrite(job("b", paused=True))])
    store.write_jobs([JobWrite(job("d"))], delete_ids=["a"])
    changed, ids = store.list_jobs_changed(seen)
    assert [r.id for r in changed] == ["b", "d"]
    assert changed[0].paused and changed[0].revision == b.revision
    assert ids == {"b", "c", "d"}
    everything, _ = store.list_jobs_changed(0)
    assert [r.id for r in everything] == ["b", "c", "d"]


def test_write_jobs_adds_audit_entries_in_the_same_transaction(store: SqlStore) -> None:
    entries = [
        AuditEntry(id=None, at=T0, actor="config", action="jobs.reload", after={"n": 2}),
        AuditEntry(id=None, at=T0, actor="config", action="job.add", target="a", user_id=None),
    ]
    store.write_jobs([JobWrite(job("a")), JobWrite(job("b"))], audit=entries)
    listed = store.list_audit()
    assert [e.action for e in listed] == ["job.add", "jobs.reload"]
    assert listed[1].after == {"n": 2}
    assert listed[1].before is None


# --- firing --------------------------------------------------------------------------------------


def test_claim_fires_records_each_fire_time_once(store: SqlStore) -> None:
    record = add_job(store)
    a, b = run(scheduled_for=T0), run(scheduled_for=T0 + timedelta(minutes=1))
    duplicate = run(scheduled_for=T0)
    claimed = store.claim_fires([claim(a, record.revision), claim(duplicate, record.revision)])
    assert claimed == [a]
    again = run(scheduled_for=T0)
    claimed = store.claim_fires([claim(again, record.revision), claim(b, record.revision)])
    assert claimed == [b]
    assert {r.id for r in store.list_runs().items} == {a.id, b.id}
    assert store.get_run(a.id) == a


def test_claim_fires_advances_next_fire_time_but_not_revision_or_counter(store: SqlStore) -> None:
    record = add_job(store, next_fire_time=T0)
    counter = store.change_counter()
    later = T0 + timedelta(minutes=2)
    store.claim_fires(
        [
            claim(run(scheduled_for=T0), record.revision, T0 + timedelta(minutes=1)),
            claim(run(scheduled_for=T0 + timedelta(minutes=1)), record.revision, later),
        ]
    )
    found = store.get_job("backup")
    assert found.next_fire_time == later
    assert found.revision == record.revision
    assert store.change_counter() == counter


def test_claim_fires_leaves_next_fire_time_of_a_job_changed_meanwhile(store: SqlStore) -> None:
    record = add_job(store, next_fire_time=T0)
    (changed,) = store.write_jobs(
        [JobWrite(record.replace(next_fire_time=T0 + timedelta(hours=5)), record.revision)]
    )
    r = run(scheduled_for=T0)
    assert store.claim_fires([claim(r, record.revision, T0 + timedelta(minutes=1))]) == [r]
    assert store.get_job("backup").next_fire_time == T0 + timedelta(hours=5)
    assert store.get_job("backup").revision == changed.revision


def test_set_next_fire_times_skips_stale_revisions(store: SqlStore) -> None:
    a = add_job(store, "a")
    b = add_job(store, "b")
    store.set_next_fire_times({"a": (a.revision, T0), "b": (b.revision - 1, T0)})
    assert store.get_job("a").next_fire_time == T0
    assert store.get_job("b").next_fire_time is None
    store.set_next_fire_times({"a": (a.revision, None)})
    assert store.get_job("a").next_fire_time is None


def test_manual_runs_never_collide_on_the_unique_claim(store: SqlStore) -> None:
    first = store.add_run(run(scheduled_for=None, created_by=1))
    second = store.add_run(run(scheduled_for=None, created_by=1))
    assert {r.id for r in store.list_runs().items} == {first.id, second.id}


def _lease(store: SqlStore, holder: str = "node-a", ttl: float = 60) -> Lease:
    lease = store.acquire_lease("scheduler", holder, ttl, utcnow())
    assert lease is not None
    return lease


def test_fenced_claim_with_the_current_lease_is_written(store: SqlStore) -> None:
    record = add_job(store)
    lease = _lease(store)
    r = run()
    assert store.claim_fires([claim(r, record.revision, T0)], fence=lease) == [r]
    assert store.get_job("backup").next_fire_time == T0


@pytest.mark.parametrize("how", ["expired", "other_holder", "old_token", "never_taken"])
def test_fenced_claim_without_the_lease_raises_and_writes_nothing(
    store: SqlStore, how: str
) -> None:
    record = add_job(store)
    now = utcnow()
    if how == "expired":
        fence = store.acquire_lease("scheduler", "node-a", 1, now - timedelta(seconds=5))
    elif how == "other_holder":
        _lease(store, "node-b")
        fence = Lease("scheduler", "node-a", 1, now + timedelta(minutes=1))
    elif how == "old_token":
        fence = store.acquire_lease("scheduler", "node-a", 1, now - timedelta(seconds=5))
        _lease(store, "node-b")
        store.release_lease("scheduler", "node-b")
        assert _lease(store, "node-a").token == 3  # node-a holds it again, under a newer token
    else:
        fence = Lease("scheduler", "node-a", 1, now + timedelta(minutes=1))
    assert fence is not None
    with pytest.raises(LeaseLost):
        store.claim_fires([claim(run(), record.revision, T0)], fence=fence)
    assert count_runs(store) == 0
    assert store.get_job("backup").next_fire_time is None


# --- runs ----------------------------------------------------------------------------------------


def test_update_runs_changes_only_the_fields_given(store: SqlStore) -> None:
    a = store.add_run(run(scheduled_for=T0, node="n1"))
    b = store.add_run(run(scheduled_for=T0 + timedelta(minutes=1)))
    started = T0 + timedelta(seconds=1)
    store.update_runs(
        [
            RunUpdate(a.id, RunStatus.RUNNING, started_at=started, node="n2"),
            RunUpdate(b.id, RunStatus.RUNNING, started_at=started),
        ]
    )
    store.update_runs(
        [
            RunUpdate(
                a.id,
                RunStatus.FAILED,
                finished_at=started + timedelta(seconds=2),
                duration_ms=2000,
                error_type="ValueError",
                error_message="bad",
                traceback="Traceback …",
                output="out\n",
                exit_code=3,
            ),
        ]
    )
    found = store.get_run(a.id)
    assert found.status is RunStatus.FAILED
    assert found.started_at == started
    assert found.node == "n2"
    assert found.finished_at == started + timedelta(seconds=2)
    assert (found.duration_ms, found.exit_code) == (2000, 3)
    assert (found.error_type, found.error_message) == ("ValueError", "bad")
    assert (found.traceback, found.output) == ("Traceback …", "out\n")
    assert store.get_run(b.id) == b.replace(status=RunStatus.RUNNING, started_at=started)
    store.update_runs([])


def test_find_run_returns_none_and_get_run_raises_for_missing_run(store: SqlStore) -> None:
    assert store.find_run("missing") is None
    with pytest.raises(RunNotFound):
        store.get_run("missing")


def test_find_runs_by_id_prefix_finds_exactly_the_runs_starting_with_it(store: SqlStore) -> None:
    add_job(store)
    ids = [
        "0196a1b2-0000-7000-8000-00000000000a",
        "0196a1b2-0000-7000-8000-00000000000b",
        "0196a1b2-ffff-7000-8000-000000000000",
        "0196a1b3-0000-7000-8000-000000000000",
        "0196a1c0-0000-7000-8000-000000000000",
        "ffffffff-ffff-7fff-bfff-ffffffffffff",
    ]
    for index, run_id in enumerate(ids):
        store.add_run(run(id=run_id, scheduled_for=T0 + timedelta(minutes=index), output="x"))

    def found(prefix: str, limit: int = 10) -> list[str]:
        return [r.id for r in store.find_runs_by_id_prefix(prefix, limit)]

    assert found("0196a1b2") == ids[:3]
    assert found("0196a1b2-") == ids[:3]
    assert found("0196a1b2-0") == ids[:2]
    assert found("0196a1b2-f") == ids[2:3]  # the carry: the range ends at 0196a1b3
    assert found("0196a1b") == ids[:4]
    assert found("0196a1") == ids[:5]
    assert found("0196a1", limit=2) == ids[:2]
    assert found("ffff") == ids[5:]  # no upper bound
    assert found(ids[0]) == ids[:1]
    assert found("0196a1b4") == []
    # Not an id's spelling: nothing, without a query that LIKE's wildcards could widen.
    assert found("0196%") == found("0196_") == found("0196A1B2") == found("x\x00") == []
    assert store.find_runs_by_id_prefix("0196a1b2", 1)[0].output is None  # light rows


def test_find_runs_by_id_prefix_reads_the_primary_key_index(store: SqlStore) -> None:
    from sqlalchemy import text

    from gnomon.store.sql_runs import id_prefix_query

    query = id_prefix_query("0196a1b2")
    assert query is not None
    compiled = query.compile(store._engine, compile_kwargs={"literal_binds": True})
    with store._engine.connect() as conn:
        if store._engine.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "USING INDEX sqlite_autoindex_runs_1 (id>? AND id<?)" in plan, plan
        else:
            conn.execute(text("SET enable_seqscan = off"))  # an empty table is scanned otherwise
            plan = " ".join(row[0] for row in conn.execute(text(f"EXPLAIN {compiled}")))
            assert "Index Scan using pk_runs" in plan, plan
            assert "Index Cond: (((id)::text >= '0196a1b2'::text)" in plan, plan


@pytest.mark.parametrize("key", ["a\x00", "\x00", "\ud800", "a\udfffb"])
def test_lookups_by_a_key_no_row_can_hold_find_nothing(store: SqlStore, key: str) -> None:
    # A NUL in a URL or a body reached the query: PostgreSQL refused it and the API answered 500.
    add_job(store)
    store.add_user("bob", Role.VIEWER, "hash-b", T0)
    assert store.find_job(key) is None
    with pytest.raises(JobNotFound):
        store.get_job(key)
    assert store.find_run(key) is None
    with pytest.raises(RunNotFound):
        store.request_cancel(key, T0)
    assert store.find_user(key) is None


def test_list_runs_filters_by_job_status_and_source(store: SqlStore) -> None:
    a1 = store.add_run(run("a", T0))
    a2 = store.add_run(run("a", T0 + timedelta(minutes=1), status=RunStatus.SUCCEEDED))
    b1 = store.add_run(run("b", T0 + timedelta(minutes=2), status=RunStatus.FAILED))
    m1 = store.add_run(run("a", None, queued_at=T0 + timedelta(minutes=3)))

    def ids(**filters: Any) -> list[str]:
        return [r.id for r in store.list_runs(**filters).items]

    assert ids() == [m1.id, b1.id, a2.id, a1.id]
    assert ids(job_id="a") == [m1.id, a2.id, a1.id]
    assert ids(statuses=[RunStatus.SUCCEEDED, RunStatus.FAILED]) == [b1.id, a2.id]
    assert ids(trigger_source=TriggerSource.MANUAL) == [m1.id]
    assert ids(job_id="a", statuses=[RunStatus.QUEUED], trigger_source=TriggerSource.SCHEDULED) == [
        a1.id
    ]


def test_list_runs_items_leave_out_output_and_traceback(store: SqlStore) -> None:
    r = store.add_run(run(output="lots", traceback="tb", status=RunStatus.FAILED))
    (item,) = store.list_runs().items
    assert item == r.replace(output=None, traceback=None)


def test_list_runs_pages_through_ties_in_queued_at(store: SqlStore) -> None:
    # Seven runs share one queued_at: only the id breaks the tie, across page boundaries.
    made = [
        store.add_run(run(scheduled_for=T0 + timedelta(minutes=i), queued_at=T0)) for i in range(7)
    ]
    made += [store.add_run(run(scheduled_for=T0 - timedelta(minutes=i + 1))) for i in range(4)]
    expected = sorted(made, key=lambda r: (r.queued_at, r.id), reverse=True)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_runs(limit=3, cursor=cursor)
        seen += [r.id for r in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r.id for r in expected]
    assert pages == 4


def test_list_runs_last_full_page_has_no_cursor(store: SqlStore) -> None:
    for i in range(3):
        store.add_run(run(scheduled_for=T0 + timedelta(minutes=i)))
    assert store.list_runs(limit=3).next_cursor is None
    assert store.list_runs(limit=2).next_cursor is not None


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'["2030-01-01T00:00:00", "x"]').decode(),  # naive
        base64.urlsafe_b64encode(b'["yesterday", "x"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["2030-01-01T00:00:00+00:00", 5]').decode(),
        # Ids no text column can be compared with: PostgreSQL refuses NUL, UTF-8 a surrogate.
        base64.urlsafe_b64encode(b'["2030-01-01T00:00:00+00:00", "a\\u0000"]').decode(),
        base64.urlsafe_b64encode(b'["2030-01-01T00:00:00+00:00", "\\ud800"]').decode(),
    ],
)
def test_list_runs_rejects_a_bad_cursor(store: SqlStore, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        store.list_runs(cursor=cursor)
    assert [p.field for p in caught.value.problems] == ["cursor"]


def test_latest_runs_gives_the_newest_run_of_each_job(store: SqlStore) -> None:
    add_job(store, "a")
    add_job(store, "b")
    add_job(store, "idle")
    store.add_run(run("a", T0))
    newest_a = store.add_run(run("a", T0 + timedelta(minutes=1), output="big"))
    tied = [store.add_run(run("b", T0 + timedelta(minutes=i), queued_at=T0)) for i in range(3)]
    newest_b = max(tied, key=lambda r: r.id)
    gone = store.add_run(run("deleted-job", T0))

    latest = store.latest_runs()
    assert latest == {"a": newest_a.replace(output=None), "b": newest_b}
    assert store.latest_runs(["b", "deleted-job", "idle"]) == {"b": newest_b, "deleted-job": gone}
    assert store.latest_runs([]) == {}


def test_active_runs_are_queued_or_running_oldest_first(store: SqlStore) -> None:
    running = store.add_run(run("a", T0, status=RunStatus.RUNNING))
    queued = store.add_run(run("b", T0 + timedelta(minutes=1)))
    store.add_run(run("a", T0 + timedelta(minutes=2), status=RunStatus.SUCCEEDED))
    assert [r.id for r in store.active_runs()] == [running.id, queued.id]
    assert [r.id for r in store.active_runs("b")] == [queued.id]


def test_claim_queued_manual_runs_takes_each_run_once(store: SqlStore) -> None:
    manual = [
        store.add_run(run(scheduled_for=None, queued_at=T0 + timedelta(seconds=i)))
        for i in range(3)
    ]
    store.add_run(run(scheduled_for=T0))  # scheduled: not for this
    store.add_run(run(scheduled_for=None, node="elsewhere"))  # taken already
    store.add_run(run(scheduled_for=None, status=RunStatus.SUCCEEDED))  # done
    first = store.claim_queued_manual_runs("n1", limit=2)
    assert [r.id for r in first] == [manual[0].id, manual[1].id]
    assert all(r.node == "n1" for r in first)
    assert [r.id for r in store.claim_queued_manual_runs("n2")] == [manual[2].id]
    assert store.claim_queued_manual_runs("n3") == []
    assert store.get_run(manual[2].id).node == "n2"


def test_two_claimers_never_get_the_same_manual_run(store: SqlStore) -> None:
    for _ in range(200):
        store.add_run(run(scheduled_for=None))
    got: dict[str, list[str]] = {"n1": [], "n2": []}
    start = threading.Barrier(2)

    def claimer(node: str) -> None:
        start.wait()
        while batch := store.claim_queued_manual_runs(node, limit=7):
            got[node] += [r.id for r in batch]

    threads = [threading.Thread(target=claimer, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not set(got["n1"]) & set(got["n2"])
    assert len(got["n1"]) + len(got["n2"]) == 200


def test_request_cancel_flags_active_runs_only(store: SqlStore) -> None:
    active = store.add_run(run(status=RunStatus.RUNNING))
    done = store.add_run(run(scheduled_for=T0 + timedelta(1), status=RunStatus.SUCCEEDED))
    going = store.add_run(run(scheduled_for=T0 + timedelta(2), status=RunStatus.RUNNING))
    assert store.runs_to_stop([active.id, done.id, going.id]) == set()
    assert store.request_cancel(active.id, T0).cancel_requested is True
    assert store.request_cancel(done.id, T0).cancel_requested is False
    assert store.runs_to_stop([active.id, done.id, going.id, "missing"]) == {active.id}
    assert store.runs_to_stop([]) == set()
    with pytest.raises(RunNotFound):
        store.request_cancel("missing", T0)


def test_a_run_recorded_interrupted_by_another_node_is_one_to_stop(store: SqlStore) -> None:
    lost = store.add_run(run(status=RunStatus.RUNNING, node="slow"))
    other = store.add_run(run(scheduled_for=T0 + timedelta(1), status=RunStatus.RUNNING))
    store.interrupt_runs(T0, "its node was thought lost", nodes=["slow"])
    assert store.runs_to_stop([lost.id, other.id]) == {lost.id}


def test_interrupt_runs_on_given_nodes(store: SqlStore) -> None:
    started = T0 + timedelta(seconds=1)
    on_dead = store.add_run(run("a", T0, status=RunStatus.RUNNING, node="dead", started_at=started))
    on_live = store.add_run(run("b", T0, status=RunStatus.RUNNING, node="live"))
    finished = store.add_run(run("c", T0, status=RunStatus.SUCCEEDED, node="dead"))
    now = T0 + timedelta(seconds=11)
    (hit,) = store.interrupt_runs(now, "node dead vanished", nodes=["dead"])
    assert hit.id == on_dead.id
    assert (hit.status, hit.finished_at, hit.reason) == (
        RunStatus.INTERRUPTED,
        now,
        "node dead vanished",
    )
    assert hit.duration_ms == 10_000
    assert store.get_run(on_dead.id) == hit
    assert store.get_run(on_live.id).status is RunStatus.RUNNING
    assert store.get_run(finished.id).status is RunStatus.SUCCEEDED


def test_interrupt_runs_on_any_node_but_kept_ones_spares_untaken_manual_runs(
    store: SqlStore,
) -> None:
    a = store.add_run(run("a", T0, status=RunStatus.RUNNING, node="old"))
    b = store.add_run(run("b", T0, node=None))  # a scheduled run nobody started
    kept = store.add_run(run("c", T0, status=RunStatus.RUNNING, node="me"))
    untaken = store.add_run(run("d", None))
    taken = store.add_run(run("e", None, node="old"))
    hit = store.interrupt_runs(T0, "restart", keep_nodes=["me"])
    assert {r.id for r in hit} == {a.id, b.id, taken.id}
    assert store.get_run(kept.id).status is RunStatus.RUNNING
    assert store.get_run(untaken.id).status is RunStatus.QUEUED
    (last,) = store.interrupt_runs(T0, "again")
    assert last == kept.replace(status=RunStatus.INTERRUPTED, finished_at=T0, reason="again")


def test_prune_runs_deletes_old_final_runs_only(store: SqlStore) -> None:
    old_done = store.add_run(run("a", T0, status=RunStatus.SUCCEEDED))
    old_missed = store.add_run(run("a", T0 + timedelta(1), status=RunStatus.MISSED))
    old_active = store.add_run(run("b", T0, status=RunStatus.RUNNING))
    new_done = store.add_run(run("c", T0 + timedelta(days=10), status=RunStatus.FAILED))
    assert store.prune_runs(T0 + timedelta(days=5)) == 2
    assert store.find_run(old_done.id) is None
    assert store.find_run(old_missed.id) is None
    assert store.find_run(old_active.id) is not None
    assert store.find_run(new_done.id) is not None


# --- users, tokens, audit ----------------------------------------------------------------------


def test_users_are_added_found_listed_and_updated(store: SqlStore) -> None:
    bob = store.add_user("bob", Role.VIEWER, "hash-b", T0)
    alice = store.add_user("alice", Role.ADMIN, "hash-a", T0)
    assert store.find_user("bob") == bob
    assert store.find_user_by_id(alice.id) == alice
    assert store.find_user("carol") is None
    assert store.find_user_by_id(999) is None
    assert [u.username for u in store.list_users()] == ["alice", "bob"]
    assert store.count_users() == 2
    later = T0 + timedelta(days=1)
    changed = store.update_user(
        dataclasses.replace(
            bob, role=Role.ADMIN, password_hash="new", password_changed_at=later, disabled=True
        )
    )
    assert changed == store.find_user("bob")
    assert (changed.role, changed.password_hash, changed.disabled) == (Role.ADMIN, "new", True)
    assert changed.password_changed_at == later
    assert changed.created_at == T0


def test_add_user_twice_raises_user_exists(store: SqlStore) -> None:
    store.add_user("bob", Role.VIEWER, "h", T0)
    with pytest.raises(UserExists):
        store.add_user("bob", Role.ADMIN, "h2", T0)
    assert store.count_users() == 1


def test_update_missing_user_raises_user_not_found(store: SqlStore) -> None:
    ghost = store.add_user("ghost", Role.VIEWER, "h", T0)
    with pytest.raises(UserNotFound):
        store.update_user(dataclasses.replace(ghost, id=ghost.id + 100))


def test_session_generation_starts_at_zero_and_only_ever_grows(store: SqlStore) -> None:
    bob = store.add_user("bob", Role.VIEWER, "h", T0)
    assert bob.session_generation == 0
    assert store.end_sessions(bob.id).session_generation == 1
    assert store.update_user(dataclasses.replace(bob, disabled=True)).session_generation == 1
    # The user given is stale (generation 0): the store raises the stored value, never resets it.
    ended = store.update_user(dataclasses.replace(bob, password_hash="new"), end_sessions=True)
    assert ended.session_generation == 2
    assert store.find_user("bob") == ended
    with pytest.raises(UserNotFound):
        store.end_sessions(bob.id + 100)


def test_concurrent_session_ends_are_all_counted(store: SqlStore) -> None:
    bob = store.add_user("bob", Role.VIEWER, "h", T0)
    threads = [threading.Thread(target=store.end_sessions, args=(bob.id,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = store.find_user("bob")
    assert found is not None and found.session_generation == 8


def test_tokens_are_added_found_revoked_and_touched(store: SqlStore) -> None:
    bob = store.add_user("bob", Role.VIEWER, "h", T0)
    alice = store.add_user("alice", Role.ADMIN, "h", T0)
    expires = T0 + timedelta(days=30)
    t1 = store.add_token(bob.id, "ci", "hash-1", T0, expires)
    t2 = store.add_token(alice.id, "ops", "hash-2", T0, None)
    assert store.find_token_by_hash("hash-1") == t1
    assert t1.expires_at == expires
    assert store.find_token_by_hash("nope") is None
    assert store.find_token_and_user("hash-1") == (t1, bob)
    assert store.find_token_and_user("hash-2") == (t2, alice)
    assert store.find_token_and_user("nope") is None
    assert store.list_tokens() == [t1, t2]
    assert store.list_tokens(bob.id) == [t1]
    store.touch_token(t1.id, T0 + timedelta(hours=1))
    revoked = store.revoke_token(t1.id, T0 + timedelta(hours=2))
    assert revoked.revoked_at == T0 + timedelta(hours=2)
    assert revoked.last_used_at == T0 + timedelta(hours=1)
    assert store.revoke_token(t1.id, T0 + timedelta(hours=3)).revoked_at == revoked.revoked_at
    with pytest.raises(TokenNotFound):
        store.revoke_token(999, T0)
    with pytest.raises(UserNotFound):
        store.add_token(999, "x", "hash-3", T0, None)


def test_audit_lists_newest_first_with_paging(store: SqlStore) -> None:
    added = [
        store.add_audit(
            AuditEntry(
                id=None,
                at=T0 + timedelta(seconds=i),
                actor="alice",
                action="job.pause",
                target=f"j{i}",
                before={"paused": False},
                after={"paused": True},
                client="10.0.0.1",
                user_id=1,
            )
        )
        for i in range(5)
    ]
    assert all(e.id is not None for e in added)
    first = store.list_audit(limit=2)
    assert first == [added[4], added[3]]
    assert store.list_audit(limit=10, before_id=first[-1].id) == added[2::-1]


def test_audit_filters_by_actor_actions_target_and_time(store: SqlStore) -> None:
    rows = [
        ("alice", "job.pause", "a", 0),
        ("alice", "job.resume", "a", 1),
        ("bob", "job.pause", "a", 2),
        ("alice", "job.pause", "b", 3),
        ("alice", "token.create", "token:1", 4),
    ]
    added = [
        store.add_audit(
            AuditEntry(id=None, at=T0 + timedelta(minutes=m), actor=who, action=what, target=target)
        )
        for who, what, target, m in rows
    ]

    def found(where: AuditFilter, before_id: int | None = None) -> list[int]:
        return [added.index(e) for e in store.list_audit(10, before_id=before_id, where=where)]

    assert found(AuditFilter(actor="alice")) == [4, 3, 1, 0]
    assert found(AuditFilter(actions=("job.pause", "job.resume"), target="a")) == [2, 1, 0]
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    assert found(AuditFilter(since=since, until=until)) == [2, 1]
    assert found(AuditFilter(actor="alice", target="a"), before_id=added[1].id) == [0]
    assert found(AuditFilter(actor="nobody")) == []
    assert found(AuditFilter(actor="a\x00b")) == [] and found(AuditFilter(target="\ud800")) == []


def test_login_attempts_are_counted_per_key_refused_at_the_limit_and_forgotten(
    store: SqlStore,
) -> None:
    second = timedelta(seconds=1)
    window = 60 * second
    for i in range(3):
        assert len(store.take_login_attempt("k1", T0 + i * second, T0 - window, 3)) == i
    assert store.take_login_attempt("k2", T0, T0 - window, 3) == []
    # At the limit: refused, and the refusal is not counted.
    refused = store.take_login_attempt("k1", T0 + 3 * second, T0 + 3 * second - window, 3)
    assert refused == [T0, T0 + second, T0 + 2 * second]
    assert store.login_failures("k1", since=T0 - second) == refused
    assert store.login_failures("k1", since=T0) == [T0 + second, T0 + 2 * second]
    assert store.login_failures("k3", since=T0 - second) == []
    # An attempt later forgets every key's failures outside its window...
    later = T0 + 61.5 * second
    assert store.take_login_attempt("k2", later, later - window, 3) == []
    assert store.login_failures("k1", since=T0 - window) == [T0 + 2 * second]
    assert store.login_failures("k2", since=T0 - window) == [later]
    # ...and clearing a key forgets only that key.
    store.clear_login_failures("k1")
    assert store.login_failures("k1", since=T0 - window) == []
    assert store.login_failures("k2", since=T0 - window) == [later]


def test_concurrent_login_attempts_never_pass_the_limit(store_url: str) -> None:
    # Many API processes and threads at once: each attempt is checked and counted in one
    # transaction, so exactly `limit` of them get through.
    stores = [SqlStore(store_url) for _ in range(4)]
    start = threading.Barrier(40)

    def attempt(index: int) -> bool:
        start.wait()
        found = stores[index % 4].take_login_attempt("k", T0, T0 - timedelta(seconds=60), 10)
        return len(found) < 10

    try:
        with ThreadPoolExecutor(40) as pool:
            taken = list(pool.map(attempt, range(40)))
    finally:
        for store in stores:
            store.close()
    assert taken.count(True) == 10
    check = SqlStore(store_url)
    try:
        assert len(check.login_failures("k", T0 - timedelta(seconds=60))) == 10
    finally:
        check.close()


def test_an_attempt_under_several_keys_is_refused_whole_when_one_key_is_at_its_limit(
    store: SqlStore,
) -> None:
    second = timedelta(seconds=1)
    since = T0 - 60 * second
    # "pair-a" and "pair-b" share the key "client", limited to 3 (the pairs to 2).
    for i, pair in enumerate(["pair-a", "pair-b", "pair-a"]):
        found = store.take_login_attempts([(pair, 2), ("client", 3)], T0 + i * second, since)
        assert len(found[1]) == i
    # "pair-b" has room (1 of 2), "client" has none: refused whole, nothing recorded anywhere.
    found = store.take_login_attempts([("pair-b", 2), ("client", 3)], T0 + 3 * second, since)
    assert found == [[T0 + second], [T0, T0 + second, T0 + 2 * second]]
    assert store.login_failures("pair-b", since) == [T0 + second]
    assert len(store.login_failures("client", since)) == 3
    # "pair-a" at its limit refuses whatever room the other key has.
    found = store.take_login_attempts([("pair-a", 2), ("other", 3)], T0 + 4 * second, since)
    assert found == [[T0, T0 + 2 * second], []]
    assert store.login_failures("other", since) == []


def test_clearing_after_a_success_forgets_one_key_and_one_attempt_under_another(
    store: SqlStore,
) -> None:
    second = timedelta(seconds=1)
    since = T0 - 60 * second
    for i, pair in enumerate(["pair-a", "pair-b", "pair-a", "pair-a"]):
        store.take_login_attempts([(pair, 10), ("client", 10)], T0 + i * second, since)
    # "pair-a" succeeds with its attempt at T0 + 3 s: its failures go, and that attempt among
    # the client's; the client's earlier failures stay, "pair-b"'s too.
    store.clear_login_failures("pair-a", [("client", T0 + 3 * second)])
    assert store.login_failures("pair-a", since) == []
    assert store.login_failures("pair-b", since) == [T0 + second]
    assert store.login_failures("client", since) == [T0, T0 + second, T0 + 2 * second]
    # Two attempts recorded at the same instant: forgetting one leaves the other.
    for pair in ("pair-c", "pair-d"):
        store.take_login_attempts([(pair, 10), ("same", 10)], T0, since)
    store.clear_login_failures("pair-c", [("same", T0)])
    assert store.login_failures("same", since) == [T0]


def test_concurrent_attempts_sharing_a_key_never_pass_its_limit(store_url: str) -> None:
    # 40 attempts at once under 40 keys of their own and one shared key (a client trying 40
    # usernames): exactly the shared key's limit get through, with no deadlock between keys.
    stores = [SqlStore(store_url) for _ in range(4)]
    start = threading.Barrier(40)
    since = T0 - timedelta(seconds=60)

    def attempt(index: int) -> bool:
        start.wait()
        limits = [(f"pair-{index}", 10), ("client", 10)]
        if index % 2:
            limits.reverse()  # the order asked in does not matter
        found = stores[index % 4].take_login_attempts(limits, T0, since)
        return all(len(failures) < 10 for failures in found)

    try:
        with ThreadPoolExecutor(40) as pool:
            taken = list(pool.map(attempt, range(40)))
    finally:
        for store in stores:
            store.close()
    assert taken.count(True) == 10
    check = SqlStore(store_url)
    try:
        assert len(check.login_failures("client", since)) == 10
        pairs = [check.login_failures(f"pair-{index}", since) for index in range(40)]
        assert sum(len(failures) for failures in pairs) == 10
    finally:
        check.close()


# --- nodes and leases ----------------------------------------------------------------------------


def test_heartbeat_registers_and_refreshes_nodes(store: SqlStore) -> None:
    a = Node("a", "host1", 10, T0, T0)
    b = Node("b", "host2", 20, T0, T0, roles=("api",))
    store.heartbeat(a)
    store.heartbeat(b)
    refreshed = Node("a", "host1", 10, T0, T0 + timedelta(seconds=5), roles=("scheduler", "api"))
    store.heartbeat(refreshed)
    assert store.list_nodes() == [refreshed, b]
    store.remove_node("a")
    store.remove_node("missing")
    assert store.list_nodes() == [b]


def test_lease_is_taken_renewed_refused_stolen_when_expired_and_released(
    store: SqlStore,
) -> None:
    assert store.find_lease("scheduler") is None
    first = store.acquire_lease("scheduler", "a", 30, T0)
    assert first == Lease("scheduler", "a", 1, T0 + timedelta(seconds=30))
    assert store.acquire_lease("scheduler", "b", 30, T0 + timedelta(seconds=10)) is None
    renewed = store.acquire_lease("scheduler", "a", 30, T0 + timedelta(seconds=20))
    assert renewed == Lease("scheduler", "a", 1, T0 + timedelta(seconds=50))
    assert store.acquire_lease("scheduler", "b", 30, T0 + timedelta(seconds=49)) is None
    stolen = store.acquire_lease("scheduler", "b", 30, T0 + timedelta(seconds=50))
    assert stolen == Lease("scheduler", "b", 2, T0 + timedelta(seconds=80))
    assert store.find_lease("scheduler") == stolen
    store.release_lease("scheduler", "a")  # not a's any more: no effect
    assert store.find_lease("scheduler") == stolen
    store.release_lease("scheduler", "b")
    taken = store.acquire_lease("scheduler", "a", 30, T0 + timedelta(seconds=51))
    assert taken == Lease("scheduler", "a", 3, T0 + timedelta(seconds=81))
    assert store.acquire_lease("other", "b", 5, T0) == Lease(
        "other", "b", 1, T0 + timedelta(seconds=5)
    )


def test_only_one_of_many_racing_holders_gets_a_free_lease(store: SqlStore) -> None:
    winners: list[str] = []
    start = threading.Barrier(6)

    def contender(holder: str) -> None:
        start.wait()
        if store.acquire_lease("race", holder, 60, T0) is not None:
            winners.append(holder)

    threads = [threading.Thread(target=contender, args=(f"h{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(winners) == 1


# --- lifecycle -----------------------------------------------------------------------------------


def test_upgrade_is_idempotent_and_leaves_the_store_ready(store: SqlStore) -> None:
    add_job(store)
    store.upgrade()
    store.upgrade()
    store.check_ready()
    assert store.find_job("backup") is not None


def test_migrations_create_exactly_the_tables_the_code_uses(store: SqlStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from gnomon.store.tables import metadata

    with store._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_check_ready_on_an_unmigrated_sqlite_file_raises(tmp_path: Any) -> None:
    store = create_store(f"sqlite:///{tmp_path / 'fresh' / 'gnomon.db'}")
    try:
        with pytest.raises(StoreNotReady, match="gnomon db upgrade"):
            store.check_ready()
    finally:
        store.close()


def test_check_ready_on_an_unreachable_server_raises() -> None:
    store = create_store("postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        with pytest.raises(StoreNotReady, match="cannot reach"):
            store.check_ready()
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url", "redis://localhost"])
def test_create_store_rejects_unsupported_urls(url: str) -> None:
    with pytest.raises(StoreError, match=r"sqlite:///|not a valid"):
        create_store(url)


def test_a_claim_that_would_start_its_run_is_dropped_when_its_job_changed_meanwhile(
    store: SqlStore,
) -> None:
    record = add_job(store, next_fire_time=T0)
    lease = _lease(store)
    (paused,) = store.write_jobs([JobWrite(record.replace(paused=True), record.revision)])
    stale = run(scheduled_for=T0, node="node-a", lease_token=lease.token)
    start = RunStart(stale.id, "backup", max_instances=1, running_here=0)
    claimed = store.claim_fires(
        [FireClaim(run=stale, expected_revision=record.revision, next_fire_time=T0, start=start)],
        fence=lease,
    )
    assert claimed == [] and count_runs(store) == 0  # the paused job's code never starts
    # Claimed from the job as it is now, it starts.
    fresh = run(scheduled_for=T0, node="node-a", lease_token=lease.token)
    start = RunStart(fresh.id, "backup", max_instances=1, running_here=0)
    [started] = store.claim_fires(
        [FireClaim(run=fresh, expected_revision=paused.revision, next_fire_time=None, start=start)],
        fence=lease,
    )
    assert started.status is RunStatus.RUNNING
