"""Connections for SqlStore: URL handling, SQLite pragmas and locking, one transaction per call."""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError
from sqlalchemy.pool import StaticPool

from gnomon.domain import utcnow
from gnomon.errors import StoreError
from gnomon.filemodes import create_private_file, make_private_dir

SQLITE_BUSY_TIMEOUT_MS = 15_000
#: PostgreSQL channel of the store's change notices: the new change counter whenever jobs
#: change, LEASE_RELEASED when a scheduler gives its lease up.
CHANGES_CHANNEL = "gnomon_changes"
LEASE_RELEASED = "lease_released"

POSTGRES_DRIVER_MISSING = (
    "the store URL names PostgreSQL, but its driver psycopg is not installed; "
    "install gnomon with the postgres extra: pip install 'gnomon[postgres]'"
)

# Execution option read by the SQLite "begin" hook: writers take the write lock up front.
_BEGIN_MODE = "gnomon_sqlite_begin"


def normalise_url(url: str) -> URL:
    """The SQLAlchemy URL gnomon uses for a store URL: pysqlite for SQLite, psycopg 3 for PG."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreError(f"store URL {url!r} is not a valid database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"store URL scheme {parsed.drivername!r} is not supported; "
        "use sqlite:///PATH/gnomon.db or postgresql://USER@HOST/DB"
    )


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL, an in-memory database or a
    ``file:`` URI."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def sqlite_in_memory(url: URL) -> bool:
    """Whether the URL names an in-memory SQLite database (``sqlite://``)."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or database.startswith("file::memory:")
    )


def sqlite_files(url: URL) -> list[Path]:
    """What holds a SQLite store's data: the database, its WAL and its shared-memory file."""
    path = sqlite_file(url)
    if path is None:
        return []
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def build_engine(url: URL) -> Engine:
    """An engine for the store URL, with SQLite tuned for several threads and processes.

    Raises StoreError for a PostgreSQL URL when psycopg (the `postgres` extra) is missing.
    """
    if url.get_backend_name() == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except ModuleNotFoundError as exc:
            # SQLAlchemy imports the driver here: a SQLite-only install does not have it.
            if (exc.name or "").split(".")[0] != "psycopg":
                raise
            raise StoreError(POSTGRES_DRIVER_MISSING) from exc
    return _build_sqlite_engine(url)


def _build_sqlite_engine(url: URL) -> Engine:
    in_memory = sqlite_in_memory(url)
    connect_args: dict[str, Any] = {
        "check_same_thread": False,
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
    }
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, connect_args=connect_args, poolclass=StaticPool)
    else:
        path = sqlite_file(url)
        if path is not None:
            # Created private before SQLite opens it: SQLite gives the WAL and shared-memory
            # files it creates later the database file's mode.
            make_private_dir(path.parent)
            create_private_file(path)
        # QueuePool: each thread borrows its own connection; other processes open their own.
        engine = create_engine(url, connect_args=connect_args, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook: pysqlite's own implicit BEGIN is
        # DEFERRED, which lets two writers both start and then fail with "database is locked".
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            # WAL makes NORMAL durable against application crashes; only power loss can drop the
            # last commits, never corrupt the file.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class WriteTurns:
    """Who writes next on SQLite, in the order they came, urgent writers first.

    threading.Lock is not fair: a thread that releases it and takes it again at once, holding
    the GIL, wins over the threads waiting, so claims written back to back when thousands of
    fires come due starved the starts of runs due now. Here the lock is handed to the next in
    line; run records (`urgent=False`) wait while fire claims and run starts are queued.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._urgent: deque[threading.Lock] = deque()
        self._later: deque[threading.Lock] = deque()

    @contextmanager
    def turn(self, urgent: bool = True) -> Iterator[None]:
        with self._guard:
            if not self._held:
                self._held = True
                mine = None
            else:
                mine = threading.Lock()
                mine.acquire()
                (self._urgent if urgent else self._later).append(mine)
        if mine is not None:
            try:
                mine.acquire()  # released by the holder handing its turn over
            except BaseException:
                self._give_up(mine)
                raise
        try:
            yield
        finally:
            self._pass_on()

    def _pass_on(self) -> None:
        with self._guard:
            waiting = self._urgent or self._later
            if waiting:
                waiting.popleft().release()  # still held: now by the next in line
            else:
                self._held = False

    def _give_up(self, mine: threading.Lock) -> None:
        """A waiter interrupted (Ctrl-C) leaves the line; if its turn had come meanwhile, it
        passes the turn on rather than keep every later writer waiting for good."""
        with self._guard:
            for line in (self._urgent, self._later):
                if mine in line:
                    line.remove(mine)
                    return
        self._pass_on()


class _ReadScope:
    """One thread's shared read transaction (see SqlBase.reading): open while `conn` is set."""

    __slots__ = ("conn", "stack")

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.stack: ExitStack | None = None


class SqlBase:
    """The engine and the two kinds of transaction every SqlStore method runs in."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        """`clock`: the store's clock on SQLite (PostgreSQL's is the server's own `now()`)."""
        self._url = normalise_url(url)
        self._clock = clock
        self._engine = build_engine(self._url)
        self._dialect = self._url.get_backend_name()
        # SQLite admits one writer at a time. Threads of this process queue for it here, where
        # the next one starts the moment the lock is released, instead of in SQLite's busy
        # handler, which polls by sleeping 1, 2, 5, 10 … ms and so turned every collision between
        # the scheduler loop and the run recorder into milliseconds of lateness. Other
        # processes still meet the busy handler.
        self._turns = None if self._is_pg else WriteTurns()
        # An in-memory database is one connection that every thread shares (see
        # _build_sqlite_engine): its transactions must not overlap, reads included.
        self._serial = threading.RLock() if sqlite_in_memory(self._url) else None
        # Per thread, the read scope it is in (see reading), if any.
        self._scopes = threading.local()

    @property
    def _is_pg(self) -> bool:
        return self._dialect == "postgresql"

    def _store_now(self) -> Any:
        """The store's clock inside a statement: PostgreSQL's `now()` (this transaction's start
        on the server), else the clock the store was built with."""
        return func.now() if self._is_pg else self._clock()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads this thread makes inside share one read transaction, until it writes.

        A write ends the shared transaction (before the write starts), and the next read begins
        a new one, which sees the write; so does a read that raised (a job not found, say). Nested
        scopes are part of the outermost one. An in-memory store shares nothing: its one
        connection, held for a whole request, would keep the scheduler's writes waiting.
        """
        if self._serial is not None or getattr(self._scopes, "scope", None) is not None:
            yield
            return
        scope = _ReadScope()
        self._scopes.scope = scope
        try:
            yield
        except BaseException:
            # The caller's error is the one worth raising, not a failed end of the reads.
            self._scopes.scope = None
            self._end_scope(scope, failed=True)
            raise
        self._scopes.scope = None
        self._end_scope(scope)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot; never blocks writers in WAL mode),
        or the one this thread's read scope shares."""
        scope: _ReadScope | None = getattr(self._scopes, "scope", None)
        if scope is not None:
            with self._scoped(scope) as conn:
                yield conn
            return
        serial = nullcontext() if self._serial is None else self._serial
        with serial, self._translate_errors(), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _scoped(self, scope: _ReadScope) -> Iterator[Connection]:
        conn = scope.conn
        if conn is None:
            stack = ExitStack()
            try:
                if self._serial is not None:
                    stack.enter_context(self._serial)
                with self._translate_errors():
                    conn = stack.enter_context(self._engine.connect())
                    stack.enter_context(conn.begin())
            except BaseException:
                stack.close()
                raise
            scope.stack, scope.conn = stack, conn
        try:
            with self._translate_errors():
                yield conn
        except BaseException:
            # A failed statement may have spoilt the transaction (PostgreSQL aborts it): the
            # next read starts a fresh one.
            self._end_scope(scope, failed=True)
            raise

    def _end_scope(self, scope: _ReadScope, failed: bool = False) -> None:
        """Finish the scope's transaction, if one is open (rolled back when `failed`)."""
        stack = scope.stack
        if stack is None:
            return
        scope.stack = scope.conn = None
        if failed:
            # Rolled back; the error that ended it is the one worth raising, not a failed
            # rollback of a broken connection.
            with suppress(Exception):
                stack.__exit__(*sys.exc_info())
            return
        with self._translate_errors():
            stack.close()

    @contextmanager
    def _write(self, urgent: bool = True) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the write lock from the start (IMMEDIATE).
        `urgent=False`: on SQLite, other writers of this process waiting go first."""
        scope: _ReadScope | None = getattr(self._scopes, "scope", None)
        if scope is not None:
            # Reads after the write must see it; and on an in-memory store the scope holds the
            # one connection, which the write needs (taken after its turn, in that order).
            self._end_scope(scope)
        turn = nullcontext() if self._turns is None else self._turns.turn(urgent)
        serial = nullcontext() if self._serial is None else self._serial
        with turn, serial, self._translate_errors(), self._engine.connect() as conn:
            conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError, InternalError) as exc:
            # InternalError covers PostgreSQL ending a transaction left idle past the lease
            # (idle_in_transaction_session_timeout, set by the fenced claim).
            where = self._url.render_as_string(hide_password=True)
            raise StoreError(f"the store at {where} failed: {exc.orig or exc}") from exc
