"""SqlStore's node registry and leadership leases (with the fencing check for fenced writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    RowMapping,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gnomon.domain import Lease, Node
from gnomon.store.base import LeaseLost
from gnomon.store.sql_engine import CHANGES_CHANNEL, LEASE_RELEASED, SqlBase
from gnomon.store.tables import leases, nodes

# What a released lease expires at: long past, so anyone may take it at once.
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)
# The shortest stall of a fenced transaction PostgreSQL tolerates, even for a lease about to end:
# short enough not to hold up failover much, long enough for a busy client's pauses.
_MIN_IDLE_TIMEOUT_MS = 1000
# Asked at every API request (is a scheduler live?): a statement built once, not per call.
_LEASE_BY_NAME = select(leases).where(leases.c.name == bindparam("name"))


def check_fence(conn: Connection, fence: Lease, lock: bool, now: datetime | None) -> None:
    """Raise LeaseLost unless the fence's holder still holds that lease with the same token.

    Expiry is judged by the store's clock, the one acquire_lease wrote it by: PostgreSQL's own
    `now()` (`now` None), else the given `now`. With `lock` (PostgreSQL) the lease row stays
    locked until the caller's transaction ends, so nobody can take the lease between this check
    and the fenced write; SQLite gets the same from the write lock its write transactions begin
    with.
    """
    stmt = select(leases.c.holder, leases.c.token, leases.c.expires_at).where(
        leases.c.name == fence.name
    )
    if now is None:
        stmt = stmt.add_columns(func.now().label("now"))
    if lock:
        # In the same statement as the lock, not one more round trip on the firing path.
        stmt = stmt.add_columns(_bound_lock_holding(fence)).with_for_update()
    row = conn.execute(stmt).first()
    if (
        row is None
        or row.holder != fence.holder
        or row.token != fence.token
        or row.expires_at <= (row.now if now is None else now)
    ):
        raise LeaseLost(fence.name, fence.holder)


def _bound_lock_holding(fence: Lease) -> ColumnElement[Any]:
    """An expression making PostgreSQL end this transaction if it stalls past the lease's end.

    The fenced write holds the lease row locked, and a standby's acquire_lease waits for that
    lock: a leader frozen (SIGSTOP) in the middle of the transaction would otherwise block
    failover until it is resumed. The server aborts a transaction left idle this long, which
    releases the lock; the frozen client's next statement then fails and nothing is written.
    """
    remaining = func.extract("epoch", leases.c.expires_at - func.now()) * 1000
    timeout_ms = func.greatest(_MIN_IDLE_TIMEOUT_MS, func.floor(remaining))
    return func.set_config(
        "idle_in_transaction_session_timeout", cast(cast(timeout_ms, Integer), Text), True
    )


def _row_to_lease(row: RowMapping) -> Lease:
    return Lease(
        name=row["name"], holder=row["holder"], token=row["token"], expires_at=row["expires_at"]
    )


def _row_to_node(row: RowMapping) -> Node:
    return Node(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=row["started_at"],
        last_seen=row["last_seen"],
        roles=tuple(row["roles"]),
        queues=tuple(row["queues"] or ()),
        concurrency=row["concurrency"],
    )


class SqlNodes(SqlBase):
    """The nodes and leases half of SqlStore."""

    def _dialect_insert(self) -> Any:
        return postgresql.insert if self._is_pg else sqlite.insert

    def heartbeat(self, node: Node) -> None:
        stmt = self._dialect_insert()(nodes).values(
            id=node.id,
            host=node.host,
            pid=node.pid,
            started_at=node.started_at,
            last_seen=node.last_seen,
            roles=list(node.roles),
            queues=list(node.queues) or None,
            concurrency=node.concurrency,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[nodes.c.id],
            set_={
                "host": stmt.excluded.host,
                "pid": stmt.excluded.pid,
                "started_at": stmt.excluded.started_at,
                "last_seen": stmt.excluded.last_seen,
                "roles": stmt.excluded.roles,
                "queues": stmt.excluded.queues,
                "concurrency": stmt.excluded.concurrency,
            },
        )
        with self._write() as conn:
            conn.execute(stmt)

    def list_nodes(self) -> list[Node]:
        with self._read() as conn:
            rows = conn.execute(select(nodes).order_by(nodes.c.id)).mappings()
            return [_row_to_node(row) for row in rows]

    def remove_node(self, node_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(nodes).where(nodes.c.id == node_id))

    def current_time(self) -> datetime:
        if not self._is_pg:
            return self._clock()
        with self._read() as conn:
            found: datetime = conn.execute(select(func.now())).scalar_one()
        return found.astimezone(UTC)

    def acquire_lease(
        self, name: str, holder: str, ttl_s: float, now: datetime | None = None
    ) -> Lease | None:
        # Judged and written on the store's clock unless the caller gives one (tests do).
        current: Any = now
        if current is None:
            current = func.now() if self._is_pg else self._clock()
        expires_at = current + timedelta(seconds=ttl_s)
        # One atomic upsert on both backends: the conditional DO UPDATE either renews our own
        # lease, takes over an expired one with the next fencing token, or changes nothing (and
        # returns no row) while someone else holds it.
        stmt = self._dialect_insert()(leases).values(
            name=name, holder=holder, token=1, expires_at=expires_at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={
                "holder": stmt.excluded.holder,
                "token": case(
                    (leases.c.holder == stmt.excluded.holder, leases.c.token),
                    else_=leases.c.token + 1,
                ),
                "expires_at": stmt.excluded.expires_at,
            },
            where=(leases.c.holder == stmt.excluded.holder) | (leases.c.expires_at <= current),
        ).returning(*leases.c)
        with self._write() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _row_to_lease(row)

    def release_lease(self, name: str, holder: str) -> None:
        # The row stays so the token history does: the next holder still gets token + 1.
        stmt = (
            update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(expires_at=_RELEASED)
        )
        with self._write() as conn:
            released = conn.execute(stmt).rowcount
            if released and self._is_pg:
                # Standbys listening take over now rather than at their next retry.
                conn.execute(select(func.pg_notify(CHANGES_CHANNEL, LEASE_RELEASED)))

    def find_lease(self, name: str) -> Lease | None:
        with self._read() as conn:
            row = conn.execute(_LEASE_BY_NAME, {"name": name}).mappings().first()
        return None if row is None else _row_to_lease(row)
