"""Leadership on a real SQLite store with both clocks injected: lapses, fencing, takeover."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gnomon.domain import (
    JobDefinition,
    JobKind,
    JobRecord,
    Lease,
    Node,
    Run,
    RunStatus,
    TriggerSource,
    utcnow,
)
from gnomon.engine.leadership import LEASE_NAME, Leadership
from gnomon.store.base import FireClaim, JobWrite, LeaseLost
from gnomon.store.sql import SqlStore
from gnomon.store.sql_nodes import check_fence
from tests.e2e.pg import fresh_database

TTL = 10.0
#: Seconds the leader of the fenced-write test stays frozen: three times its 2 s lease.
FROZEN = 6.0


class Wall:
    """The store's clock (what lease expiry and heartbeats are judged by), moved by hand."""

    def __init__(self) -> None:
        self.at = utcnow()

    def now(self) -> datetime:
        return self.at


class Clocks:
    """One node's clocks, moved by hand: the wall clock it shares with the store, and its own
    monotonic clock."""

    def __init__(self, wall: Wall) -> None:
        self._wall = wall
        self.mono = 1000.0

    @property
    def wall(self) -> datetime:
        return self._wall.at

    def now(self) -> datetime:
        return self._wall.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self._wall.at += timedelta(seconds=seconds)
        self.mono += seconds


class Events:
    def __init__(self) -> None:
        self.log: list[str] = []

    def elected(self, lease: Lease) -> None:
        self.log.append(f"elected {lease.token}")

    def deposed(self) -> None:
        self.log.append("deposed")


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def store(tmp_path: Path, wall: Wall) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}", clock=wall.now)
    store.upgrade()
    yield store
    store.close()


def leadership(store: SqlStore, node: str, clocks: Clocks, events: Events) -> Leadership:
    return Leadership(
        store,
        node,
        ttl=TTL,
        on_elected=events.elected,
        on_deposed=events.deposed,
        clock=clocks.now,
        monotonic_clock=clocks.monotonic,
    )


def test_leader_stops_trusting_its_lease_at_eight_tenths_of_the_ttl(
    store: SqlStore, wall: Wall
) -> None:
    clocks, events = Clocks(wall), Events()
    node = leadership(store, "a", clocks, events)
    assert node.tick() == TTL / 4
    assert node.is_leader() and events.log == ["elected 1"]
    clocks.mono += TTL * 0.8 - 0.001
    assert node.is_leader()
    clocks.mono += 0.001
    assert not node.is_leader() and node.lease is None


def test_renewal_after_a_lapse_counts_as_a_new_election(store: SqlStore, wall: Wall) -> None:
    # A freeze past the lease with no standby around: the store keeps our token, but the
    # scheduler dropped its state while not leader, so it must hear "elected" again.
    clocks, events = Clocks(wall), Events()
    node = leadership(store, "a", clocks, events)
    node.tick()
    clocks.advance(TTL * 3)
    assert not node.is_leader()
    node.tick()
    assert node.is_leader()
    assert events.log == ["elected 1", "deposed", "elected 1"]


def test_renewal_in_time_is_no_new_election(store: SqlStore, wall: Wall) -> None:
    clocks, events = Clocks(wall), Events()
    node = leadership(store, "a", clocks, events)
    for _ in range(5):
        node.tick()
        clocks.advance(TTL / 4)
    assert node.is_leader() and events.log == ["elected 1"]


def test_frozen_leader_wakes_deposed_and_its_fenced_claim_is_refused(
    store: SqlStore, wall: Wall
) -> None:
    clocks_a, clocks_b = Clocks(wall), Clocks(wall)
    events_a, events_b = Events(), Events()
    a = leadership(store, "a", clocks_a, events_a)
    b = leadership(store, "b", clocks_b, events_b)
    a.tick()
    old = a.lease
    assert old is not None
    b.tick()
    assert not b.is_leader()
    # a is frozen (SIGSTOP): its clocks move on but it runs no code; b takes over at expiry.
    clocks_a.advance(TTL + 1)
    clocks_b.mono += TTL + 1
    b.tick()
    assert b.is_leader() and events_b.log == ["elected 2"]
    # a wakes up: before any renewal it already knows it may not fire...
    assert not a.is_leader() and a.lease is None
    # ...and a claim it had prepared before the freeze is refused by the store.
    trigger = {"type": "interval", "seconds": 1}
    definition = JobDefinition(
        id="j", name="j", trigger=trigger, kind=JobKind.COMMAND, command=("true",)
    )
    record = JobRecord(definition=definition, trigger=trigger, next_fire_time=clocks_a.wall)
    [record] = store.write_jobs([JobWrite(record)])
    run = Run(
        id="r1",
        job_id="j",
        trigger_source=TriggerSource.SCHEDULED,
        status=RunStatus.QUEUED,
        queued_at=clocks_a.wall,
        scheduled_for=clocks_a.wall,
        node="a",
    )
    with pytest.raises(LeaseLost):
        store.claim_fires([FireClaim(run, record.revision, None)], fence=old)
    assert store.list_runs(job_id="j").items == []
    a.tick()
    assert not a.is_leader() and events_a.log == ["elected 1", "deposed"]


def test_standby_retries_right_when_the_holders_lease_ends(store: SqlStore, wall: Wall) -> None:
    clocks_a, clocks_b = Clocks(wall), Clocks(wall)
    a = leadership(store, "a", clocks_a, Events())
    b = leadership(store, "b", clocks_b, Events())
    a.tick()
    assert b.tick() == TTL / 4  # the lease ends in 10 s: just retry at the usual pace
    clocks_b.advance(TTL - 1)
    assert b.tick() == pytest.approx(
        1.05, abs=0.01
    )  # a died: b tries again the moment it may take over
    clocks_b.advance(1.05)
    b.tick()
    assert b.is_leader()


def test_failed_renewal_keeps_a_lease_that_is_still_valid(
    store: SqlStore, wall: Wall, monkeypatch: pytest.MonkeyPatch
) -> None:
    clocks, events = Clocks(wall), Events()
    node = leadership(store, "a", clocks, events)
    node.tick()

    def down(*_args: object) -> None:
        raise OSError("store unreachable")

    monkeypatch.setattr(store, "heartbeat", down)
    clocks.advance(TTL / 4)
    assert node.tick() == 1.0
    assert node.is_leader()
    clocks.advance(TTL * 0.8)
    node.tick()
    assert not node.is_leader() and events.log == ["elected 1", "deposed"]


def released(store: SqlStore) -> bool:
    """The lease is free: released (it ends at the epoch), not merely left to expire."""
    lease = store.find_lease(LEASE_NAME)
    return lease is not None and lease.expires_at < utcnow() - timedelta(days=365)


def test_resigned_leader_hands_over_at_once_and_keeps_its_heartbeat(
    store: SqlStore, wall: Wall
) -> None:
    clocks, events = Clocks(wall), Events()
    a = leadership(store, "a", clocks, events)
    a.tick()
    a.resign()
    assert not a.is_leader() and events.log == ["elected 1", "deposed"]
    # A standby takes over now, not when the lease would have ended...
    b = leadership(store, "b", clocks, Events())
    b.tick()
    assert b.is_leader()
    # ...and the resigned node never takes the lease again, even once it is free, but stays
    # registered as alive (its runs still running are no orphans).
    b.stop()
    clocks.advance(TTL / 4)
    a.tick()
    assert not a.is_leader() and released(store)
    assert [(n.id, n.last_seen) for n in store.list_nodes()] == [("a", clocks.wall)]


def test_resign_waits_out_a_renewal_in_flight(
    store: SqlStore, wall: Wall, monkeypatch: pytest.MonkeyPatch
) -> None:
    clocks = Clocks(wall)
    a = leadership(store, "a", clocks, Events())
    a.tick()
    renewing, finish_renewal = threading.Event(), threading.Event()
    acquire = store.acquire_lease

    def slow_acquire(*args: Any) -> Lease | None:
        renewing.set()
        finish_renewal.wait(5)
        return acquire(*args)

    monkeypatch.setattr(store, "acquire_lease", slow_acquire)
    renewal = threading.Thread(target=a.tick, daemon=True)
    renewal.start()
    assert renewing.wait(5)
    resigning = threading.Thread(target=a.resign, daemon=True)
    resigning.start()
    resigning.join(0.2)
    assert resigning.is_alive()  # it waits for the renewal instead of racing it
    finish_renewal.set()
    renewal.join(5)
    resigning.join(5)
    # The renewal completed first, so the release came after it: the lease is free.
    assert not a.is_leader() and released(store)


def test_wake_makes_a_standby_try_for_the_lease_at_once(store: SqlStore, wall: Wall) -> None:
    # Real clocks and threads: the holder gives the lease up; the standby, told so, takes it
    # long before its next retry (ttl/4 = 15 s here).
    holder = Leadership(store, "a", ttl=60)
    standby = Leadership(store, "b", ttl=60)
    holder.tick()
    standby.start()
    try:
        assert not standby.is_leader()
        holder.resign()
        started = time.monotonic()
        standby.wake()
        while not standby.is_leader() and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert standby.is_leader()
    finally:
        standby.stop()


def test_leader_removes_nodes_not_seen_for_thirty_lease_times(store: SqlStore, wall: Wall) -> None:
    clocks = Clocks(wall)

    def node(node_id: str, seen_ago: float) -> Node:
        seen = clocks.wall - timedelta(seconds=seen_ago)
        return Node(id=node_id, host="h", pid=1, started_at=seen, last_seen=seen)

    store.heartbeat(node("gone", TTL * 30 + 1))
    store.heartbeat(node("quiet", TTL * 30 - 1))
    leader = leadership(store, "leader", clocks, Events())
    leader.tick()
    assert [n.id for n in store.list_nodes()] == ["leader", "quiet"]
    assert store.find_lease(LEASE_NAME) is not None


def test_standby_prunes_nothing(store: SqlStore, wall: Wall) -> None:
    clocks = Clocks(wall)
    old = clocks.wall - timedelta(days=1)
    store.heartbeat(Node(id="gone", host="h", pid=1, started_at=old, last_seen=old))
    leadership(store, "leader", clocks, Events()).tick()
    store.heartbeat(Node(id="gone", host="h", pid=1, started_at=old, last_seen=old))
    leadership(store, "standby", Clocks(wall), Events()).tick()
    assert "gone" in {n.id for n in store.list_nodes()}


@pytest.mark.postgres
def test_leader_frozen_inside_a_fenced_write_does_not_hold_up_takeover() -> None:
    # The fenced write locks the lease row; if its client stalls (SIGSTOP) PostgreSQL must end
    # the transaction by the lease's end, or the standby's acquire_lease would wait on the lock.
    with fresh_database("gnomon_fence") as url:
        store = SqlStore(url)
        store.upgrade()
        try:
            lease = store.acquire_lease(LEASE_NAME, "a", 2, utcnow())
            assert lease is not None
            taken: list[tuple[Lease | None, float]] = []
            standby = threading.Thread(
                target=lambda: taken.append((take_over(store), time.monotonic())), daemon=True
            )
            failure, thawed_at = frozen_in_fenced_write(store, lease, standby)
            standby.join(timeout=10)
        finally:
            store.close()
    # The server ended the frozen transaction: its write fails, nothing is committed...
    assert "idle-in-transaction timeout" in str(failure)
    # ...and the standby took over while the leader was still frozen: the lock it would have
    # waited on was gone before the leader woke.
    [(new, taken_at)] = taken
    assert new is not None and new.holder == "b" and new.token == lease.token + 1
    assert taken_at < thawed_at, (taken_at, thawed_at)


def frozen_in_fenced_write(
    store: SqlStore, lease: Lease, standby: threading.Thread
) -> tuple[Exception, float]:
    """The failure of a fenced write frozen with the lease row locked (while `standby` tries
    to take the lease), and when (time.monotonic) the frozen leader woke."""
    thawed_at = math.nan  # a failure before the freeze fails the comparison with it
    try:
        with store._write() as conn:
            check_fence(conn, lease, True, None)
            standby.start()
            time.sleep(FROZEN)  # "frozen" with the lease row locked, well past the lease's end
            thawed_at = time.monotonic()
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return exc, thawed_at
    raise AssertionError("the frozen transaction was not ended by the server")


def take_over(store: SqlStore) -> Lease | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lease = store.acquire_lease(LEASE_NAME, "b", 2, utcnow())
        if lease is not None:
            return lease
        time.sleep(0.1)
    return None


def test_forfeit_ends_leadership_and_the_next_tick_is_a_new_election(
    store: SqlStore, wall: Wall
) -> None:
    # A fenced write refused (e.g. the lease ran out on the store's clock): the scheduler drops
    # its state, so taking the lease back, even with the same token, must say "elected".
    clocks, events = Clocks(wall), Events()
    node = leadership(store, "a", clocks, events)
    node.tick()
    node.forfeit()
    assert not node.is_leader()
    node.tick()
    assert node.is_leader() and events.log == ["elected 1", "deposed", "elected 1"]


def test_a_step_of_a_nodes_own_wall_clock_does_not_move_the_lease(tmp_path: Path) -> None:
    # Lease and heartbeats are on the store's clock; the node's clock is only its own business.
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    own = Wall()
    own.at += timedelta(hours=1)
    node = Leadership(store, "a", ttl=TTL, clock=own.now)
    node.tick()
    lease = store.find_lease(LEASE_NAME)
    assert lease is not None
    assert abs((lease.expires_at - utcnow()).total_seconds() - TTL) < 5
    [seen] = store.list_nodes()
    assert abs((seen.last_seen - utcnow()).total_seconds()) < 5
