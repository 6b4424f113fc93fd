"""SqlStore's users, API tokens and audit trail."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from gnomon.domain import ApiToken, AuditEntry, AuditFilter, Role, User
from gnomon.errors import LastAdmin, TokenNotFound, UserExists, UserNotFound
from gnomon.store.sql_engine import SqlBase
from gnomon.store.storable import holdable
from gnomon.store.tables import api_tokens, audit, login_failures, users

_USER_BY_ID = select(users).where(users.c.id == bindparam("user_id"))
# PostgreSQL advisory locks of login attempts: (this space, a 32-bit digest of the key). The
# two-key form never meets the one-key locks taken elsewhere (migrations).
_LOGIN_LOCK_SPACE = 0x676E6D6C  # "gnml"
_TOKEN_BY_HASH = select(api_tokens).where(api_tokens.c.token_hash == bindparam("token_hash"))
# Every bearer request asks for its token and the token's user: one statement, both rows.
_TOKEN_AND_USER = (
    select(
        *(c.label(f"t_{c.name}") for c in api_tokens.c),
        *(c.label(f"u_{c.name}") for c in users.c),
    )
    .select_from(api_tokens.outerjoin(users, users.c.id == api_tokens.c.user_id))
    .where(api_tokens.c.token_hash == bindparam("token_hash"))
)
_TOKEN_KEYS = [(f"t_{c.name}", c.name) for c in api_tokens.c]
_USER_KEYS = [(f"u_{c.name}", c.name) for c in users.c]


def _failures_since(key: str, since: datetime) -> Select[Any]:
    return (
        select(login_failures.c.failed_at)
        .where(login_failures.c.key == key, login_failures.c.failed_at > since)
        .order_by(login_failures.c.failed_at, login_failures.c.id)
    )


def _lock_key(key: str) -> int:
    """`key` as a signed 32-bit integer, for pg_advisory_xact_lock(int, int)."""
    return int.from_bytes(zlib.crc32(key.encode()).to_bytes(4, "big"), "big", signed=True)


def insert_audit(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Add audit entries inside the caller's transaction (one executemany)."""
    if entries:
        conn.execute(audit.insert(), [_audit_params(entry) for entry in entries])


def _audit_params(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "client": entry.client,
        "user_id": entry.user_id,
    }


def _audit_conditions(where: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.actor is not None:
        conditions.append(audit.c.actor == where.actor)
    if where.actions:
        conditions.append(audit.c.action.in_(where.actions))
    if where.target is not None:
        conditions.append(audit.c.target == where.target)
    if where.since is not None:
        conditions.append(audit.c.at >= where.since)
    if where.until is not None:
        conditions.append(audit.c.at < where.until)
    return conditions


def _row_to_audit(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        before=row["before"],
        after=row["after"],
        client=row["client"],
        user_id=row["user_id"],
    )


def _row_to_user(row: RowMapping | Mapping[str, Any]) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        password_changed_at=row["password_changed_at"],
        session_generation=row["session_generation"],
    )


def _row_to_token(row: RowMapping | Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class SqlAuth(SqlBase):
    """The users, tokens and audit half of SqlStore."""

    # --- users -------------------------------------------------------------------------------

    def add_user(self, username: str, role: Role, password_hash: str, now: datetime) -> User:
        stmt = (
            users.insert()
            .values(
                username=username,
                role=Role(role).value,
                password_hash=password_hash,
                disabled=False,
                created_at=now,
                password_changed_at=now,
            )
            .returning(users.c.id)
        )
        try:
            with self._write() as conn:
                user_id = conn.execute(stmt).scalar_one()
        except IntegrityError as exc:
            raise UserExists(username) from exc
        return User(
            id=user_id,
            username=username,
            role=Role(role),
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )

    def find_user(self, username: str) -> User | None:
        if not holdable(username):
            return None
        return self._find_user(users.c.username == username)

    def find_user_by_id(self, user_id: int) -> User | None:
        # Every bearer request asks: a statement built once, not per call.
        with self._read() as conn:
            row = conn.execute(_USER_BY_ID, {"user_id": user_id}).mappings().first()
        return None if row is None else _row_to_user(row)

    def _find_user(self, condition: Any) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(users).where(condition)).mappings().first()
        return None if row is None else _row_to_user(row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).mappings()
            return [_row_to_user(row) for row in rows]

    def update_user(
        self, user: User, *, end_sessions: bool = False, keep_an_admin: bool = False
    ) -> User:
        values: dict[str, Any] = {
            "role": Role(user.role).value,
            "password_hash": user.password_hash,
            "password_changed_at": user.password_changed_at,
            "disabled": user.disabled,
        }
        if end_sessions:
            values["session_generation"] = users.c.session_generation + 1
        stmt = update(users).where(users.c.id == user.id).values(values).returning(*users.c)
        with self._write() as conn:
            if keep_an_admin and (user.disabled or Role(user.role) != Role.ADMIN):
                self._refuse_the_last_admin(conn, user)
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise UserNotFound(user.username)
        return _row_to_user(row)

    def _refuse_the_last_admin(self, conn: Any, user: User) -> None:
        """Raise LastAdmin when `user` is the only enabled admin (as the store has it). On
        PostgreSQL the
        enabled admins' rows stay locked until the caller's write commits, so a second such
        write waits and then counts what the first left; SQLite's write lock does the same."""
        admins = select(users.c.id).where(
            users.c.role == Role.ADMIN.value, users.c.disabled.is_(False)
        )
        if self._is_pg:
            admins = admins.order_by(users.c.id).with_for_update()
        if list(conn.execute(admins).scalars()) == [user.id]:
            raise LastAdmin(user.username)

    def end_sessions(self, user_id: int) -> User:
        # One UPDATE: two concurrent calls both count, none is lost to a read-modify-write.
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(session_generation=users.c.session_generation + 1)
            .returning(*users.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise UserNotFound(user_id)
        return _row_to_user(row)

    def count_users(self) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    # --- API tokens --------------------------------------------------------------------------

    def add_token(
        self, user_id: int, name: str, token_hash: str, now: datetime, expires_at: datetime | None
    ) -> ApiToken:
        stmt = (
            api_tokens.insert()
            .values(
                user_id=user_id,
                name=name,
                token_hash=token_hash,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(api_tokens.c.id)
        )
        with self._write() as conn:
            if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise UserNotFound(user_id)
            token_id = conn.execute(stmt).scalar_one()
        return ApiToken(
            id=token_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires_at,
        )

    def find_token_by_hash(self, token_hash: str) -> ApiToken | None:
        with self._read() as conn:
            row = conn.execute(_TOKEN_BY_HASH, {"token_hash": token_hash}).mappings().first()
        return None if row is None else _row_to_token(row)

    def find_token_and_user(self, token_hash: str) -> tuple[ApiToken, User | None] | None:
        with self._read() as conn:
            row = conn.execute(_TOKEN_AND_USER, {"token_hash": token_hash}).mappings().first()
        if row is None:
            return None
        token = _row_to_token({name: row[label] for label, name in _TOKEN_KEYS})
        if row["u_id"] is None:
            return token, None
        return token, _row_to_user({name: row[label] for label, name in _USER_KEYS})

    def list_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        stmt = select(api_tokens).order_by(api_tokens.c.id)
        if user_id is not None:
            stmt = stmt.where(api_tokens.c.user_id == user_id)
        with self._read() as conn:
            return [_row_to_token(row) for row in conn.execute(stmt).mappings()]

    def revoke_token(self, token_id: int, now: datetime) -> ApiToken:
        with self._write() as conn:
            # Revoking twice keeps the first revocation time.
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            stmt = select(api_tokens).where(api_tokens.c.id == token_id)
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise TokenNotFound(token_id)
        return _row_to_token(row)

    def touch_token(self, token_id: int, now: datetime) -> None:
        stmt = update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        with self._write() as conn:
            conn.execute(stmt)

    # --- audit -------------------------------------------------------------------------------

    def take_login_attempts(
        self, limits: Sequence[tuple[str, int]], at: datetime, since: datetime
    ) -> list[list[datetime]]:
        with self._write() as conn:
            if self._is_pg:
                # Attempts under one key queue here until the one before commits, so each counts
                # the ones before it; SQLite's write transaction already holds the one lock. The
                # locks are taken in one order (sorted), so two attempts sharing keys never wait
                # for each other in a cycle.
                lock = text("SELECT pg_advisory_xact_lock(:space, :key)")
                for lock_key in sorted({_lock_key(key) for key, _limit in limits}):
                    conn.execute(lock, {"space": _LOGIN_LOCK_SPACE, "key": lock_key})
            conn.execute(delete(login_failures).where(login_failures.c.failed_at <= since))
            found: list[list[datetime]] = [
                list(conn.execute(_failures_since(key, since)).scalars()) for key, _limit in limits
            ]
            under = zip(found, limits, strict=True)
            if all(len(failures) < limit for failures, (_key, limit) in under):
                rows = [{"key": key, "failed_at": at} for key, _limit in limits]
                conn.execute(login_failures.insert(), rows)
        return found

    def login_failures(self, key: str, since: datetime) -> list[datetime]:
        with self._read() as conn:
            return list(conn.execute(_failures_since(key, since)).scalars())

    def clear_login_failures(self, key: str, forget: Sequence[tuple[str, datetime]] = ()) -> None:
        with self._write() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.key == key))
            for other, at in forget:
                one = (
                    select(login_failures.c.id)
                    .where(login_failures.c.key == other, login_failures.c.failed_at == at)
                    .order_by(login_failures.c.id)
                    .limit(1)
                    .scalar_subquery()
                )
                conn.execute(delete(login_failures).where(login_failures.c.id == one))

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        stmt = audit.insert().values(_audit_params(entry)).returning(audit.c.id)
        with self._write() as conn:
            entry_id = conn.execute(stmt).scalar_one()
        return dataclasses.replace(entry, id=entry_id)

    def list_audit(
        self, limit: int = 50, before_id: int | None = None, where: AuditFilter | None = None
    ) -> list[AuditEntry]:
        stmt = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(audit.c.id < before_id)
        if where is not None:
            keys = [where.actor, where.target, *where.actions]
            if not all(holdable(key) for key in keys if key is not None):
                return []  # no entry holds such a key, and PostgreSQL refuses to look for it
            stmt = stmt.where(*_audit_conditions(where))
        with self._read() as conn:
            return [_row_to_audit(row) for row in conn.execute(stmt).mappings()]
