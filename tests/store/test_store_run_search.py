"""Runs across jobs, on SQLite and PostgreSQL: every filter of list_runs (job, statuses, trigger
source, node, queued time range, fires claimed ahead) paged by cursor gives what filtering and
sorting every run in Python gives; and the job triggers read for showing their times."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.errors import ValidationFailed
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import add_job, run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NODES = ["node-a", "node-b", None]


def many_runs(store: SqlStore, count: int = 120, seed: int = 7) -> list[Run]:
    """Runs of three jobs in every status and both sources, on two nodes or none, queued over
    a few hours with many sharing one instant (only the id orders those)."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        queued_at = T0 + timedelta(minutes=rng.choice([0, 5, 5, 5, 30, 61, 62, 120, 121, 240]))
        manual = rng.random() < 0.3
        made.append(
            store.add_run(
                run(
                    rng.choice(["a", "b", "c"]),
                    None if manual else T0 + timedelta(seconds=i),
                    queued_at=queued_at,
                    status=rng.choice(list(RunStatus)),
                    node=rng.choice(NODES),
                )
            )
        )
    return made


def expected(made: list[Run], **filters: Any) -> list[str]:
    """list_runs' answer for `filters`, computed in Python."""
    statuses = set(filters.get("statuses", ()))
    checks: list[Callable[[Run], bool]] = [
        lambda r: not statuses or r.status in statuses,
        lambda r: filters.get("job_id") in (None, r.job_id),
        lambda r: filters.get("trigger_source") in (None, r.trigger_source),
        lambda r: filters.get("node") in (None, r.node),
        lambda r: filters.get("since") is None or r.queued_at >= filters["since"],
        lambda r: filters.get("until") is None or r.queued_at < filters["until"],
    ]
    kept = [r for r in made if all(check(r) for check in checks)]
    return [r.id for r in sorted(kept, key=lambda r: (r.queued_at, r.id), reverse=True)]


def paged(store: SqlStore, limit: int, **filters: Any) -> list[str]:
    """Every page of list_runs(filters) read in turn, each full but the last."""
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_runs(limit=limit, cursor=cursor, **filters)
        seen += [r.id for r in page.items]
        if page.next_cursor is None:
            return seen
        assert len(page.items) == limit
        cursor = page.next_cursor


FILTERS: list[dict[str, Any]] = [
    {},
    {"statuses": [RunStatus.FAILED]},
    {"statuses": [RunStatus.FAILED, RunStatus.MISSED, RunStatus.INTERRUPTED]},
    {"statuses": list(RunStatus)},
    {"job_id": "b", "statuses": [RunStatus.SUCCEEDED, RunStatus.QUEUED]},
    {"trigger_source": TriggerSource.MANUAL},
    {"node": "node-a"},
    {"node": "node-b", "statuses": [RunStatus.RUNNING, RunStatus.TIMED_OUT]},
    {"since": T0 + timedelta(minutes=5)},
    {"until": T0 + timedelta(minutes=61)},
    {"since": T0 + timedelta(minutes=5), "until": T0 + timedelta(minutes=121)},
    {
        "job_id": "a",
        "statuses": [RunStatus.SUCCEEDED, RunStatus.FAILED],
        "trigger_source": TriggerSource.SCHEDULED,
        "node": "node-a",
        "since": T0 + timedelta(minutes=1),
        "until": T0 + timedelta(minutes=240),
    },
    {"job_id": "nobody"},
    {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(minutes=30)},
]


def test_every_filter_paged_by_cursor_gives_what_python_gives(store: SqlStore) -> None:
    made = many_runs(store)
    for filters, limit in itertools.product(FILTERS, [1, 7, 50, 500]):
        want = expected(made, **filters)
        assert paged(store, limit, **filters) == want, (filters, limit)
    assert len(expected(made)) == len(made)


def test_since_is_inclusive_and_until_exclusive(store: SqlStore) -> None:
    at = T0 + timedelta(minutes=10)
    before = store.add_run(run("a", None, queued_at=at - timedelta(microseconds=1)))
    exactly = store.add_run(run("a", None, queued_at=at))
    after = store.add_run(run("a", None, queued_at=at + timedelta(microseconds=1)))

    def ids(**filters: Any) -> list[str]:
        return [r.id for r in store.list_runs(**filters).items]

    assert ids(since=at) == [after.id, exactly.id]
    assert ids(until=at) == [before.id]
    assert ids(since=at, until=at + timedelta(microseconds=1)) == [exactly.id]


def test_runs_of_a_removed_job_are_still_listed(store: SqlStore) -> None:
    gone = store.add_run(run("removed", T0, status=RunStatus.SUCCEEDED))
    assert [r.id for r in store.list_runs(job_id="removed").items] == [gone.id]


def test_fires_claimed_ahead_stay_hidden_until_due_whatever_the_filter(store: SqlStore) -> None:
    done = store.add_run(run("a", T0, status=RunStatus.SUCCEEDED))
    ahead = store.add_run(
        run("a", T0 + timedelta(seconds=10), queued_at=T0 + timedelta(seconds=9), node="node-a")
    )
    for filters in ({}, {"statuses": [RunStatus.QUEUED, RunStatus.SUCCEEDED]}, {"node": "node-a"}):
        ids = [r.id for r in store.list_runs(as_of=T0 + timedelta(seconds=9), **filters).items]
        assert ahead.id not in ids
        due = [r.id for r in store.list_runs(as_of=T0 + timedelta(seconds=10), **filters).items]
        assert ahead.id in due
    assert [r.id for r in store.list_runs(as_of=T0 + timedelta(seconds=9)).items] == [done.id]


@pytest.mark.parametrize("key", ["a\x00b", "\ud800", "node-\udfff"])
def test_filtering_by_a_key_no_row_can_hold_lists_none(store: SqlStore, key: str) -> None:
    store.add_run(run("a", T0, node="node-a"))
    assert store.list_runs(job_id=key).items == []
    assert store.list_runs(node=key).items == []


def test_a_bad_cursor_is_refused_even_with_filters_that_match_nothing(store: SqlStore) -> None:
    with pytest.raises(ValidationFailed) as caught:
        store.list_runs(node="\x00", cursor="garbage")
    assert [p.field for p in caught.value.problems] == ["cursor"]


def test_job_triggers_reads_the_triggers_of_the_jobs_that_exist(store: SqlStore) -> None:
    a = add_job(store, "a")
    add_job(store, "b")
    assert store.job_triggers(["a", "missing", "a", "\x00"]) == {"a": a.trigger}
    assert store.job_triggers([]) == {}
    assert set(store.job_triggers(["a", "b"])) == {"a", "b"}
