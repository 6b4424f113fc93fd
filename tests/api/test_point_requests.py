"""Round trips of the point reads and writes: how many statements and transactions one request
costs (counts, not times), and that nothing read is kept past its request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gnomon.api import create_app
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.api.conftest import JOBS, AuthActions, assert_error, assert_ok

ACTOR = Actor("test")


@dataclass
class RoundTrips:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0


@contextmanager
def round_trips(runtime: Runtime) -> Iterator[RoundTrips]:
    """The statements and transactions this thread sends to the store (the scheduler's own
    threads are not counted)."""
    from sqlalchemy import event

    engine = runtime.store._engine  # type: ignore[attr-defined]
    seen = RoundTrips()
    me = threading.current_thread()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if threading.current_thread() is me and not sql.startswith("BEGIN"):
            seen.statements.append(sql)

    def begin(_conn: Any) -> None:
        if threading.current_thread() is me:
            seen.transactions += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)


@pytest.fixture
def token(app: Any, runtime: Runtime) -> str:
    secret = app.extensions["gnomon"].tokens.create_token("admin", "ci", None, ACTOR).secret
    return str(secret)


def measured(
    runtime: Runtime, send: Callable[[], TestResponse], warm_up: Callable[[], TestResponse]
) -> RoundTrips:
    assert_ok(warm_up())  # the first use of a token records it (a write, once a minute)
    with round_trips(runtime) as seen:
        assert_ok(send())
    return seen


def test_get_one_job_with_a_token_is_one_read_transaction(
    client: FlaskClient, runtime: Runtime, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    send = lambda: client.get(f"{JOBS}/report", headers=headers)  # noqa: E731
    seen = measured(runtime, send, send)
    # token with its user, the scheduler's lease, the job, its recent runs with the running
    # count, its fires claimed ahead of their time
    assert seen.transactions == 1
    assert len(seen.statements) <= 5, seen.statements


def test_get_one_job_with_a_session_is_one_read_transaction(
    admin: AuthActions, runtime: Runtime
) -> None:
    send = lambda: admin.get(f"{JOBS}/report")  # noqa: E731
    seen = measured(runtime, send, send)
    assert seen.transactions == 1
    assert len(seen.statements) <= 5, seen.statements


def test_a_trigger_change_reads_once_writes_once_and_reads_the_answer_once(
    client: FlaskClient, runtime: Runtime, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    hours = iter(range(1, 100))
    seen = measured(
        runtime,
        lambda: client.put(
            f"{JOBS}/report",
            headers=headers,
            json={"trigger_type": "interval", "hours": next(hours)},
        ),
        lambda: client.get(JOBS, headers=headers),
    )
    assert seen.transactions == 3
    assert len(seen.statements) <= 9, seen.statements


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("PUT", "", {"trigger_type": "interval", "hours": 5}),
        ("POST", "/actions/pause", None),
        ("POST", "/actions/resume", None),
    ],
)
def test_a_changes_answer_is_the_job_as_a_read_right_after_shows_it(
    client: FlaskClient, token: str, method: str, action: str, body: Any
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{JOBS}/report"
    answer = assert_ok(client.open(url + action, method=method, json=body, headers=headers))
    assert answer == assert_ok(client.get(url, headers=headers))


def test_a_manual_run_reads_once_and_writes_once(
    client: FlaskClient, runtime: Runtime, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    seen = measured(
        runtime,
        lambda: client.post(f"{JOBS}/report/actions/run", headers=headers),
        lambda: client.get(JOBS, headers=headers),
    )
    assert seen.transactions == 2
    assert len(seen.statements) <= 7, seen.statements


def test_a_token_revoked_by_another_worker_is_refused_at_the_next_request(
    client: FlaskClient,
    runtime: Runtime,
    token: str,
    config_path: Path,
    runtime_factory: Callable[[Path], Runtime],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert_ok(client.get(f"{JOBS}/report", headers=headers))
    other = create_app(runtime_factory(config_path))
    tokens = other.extensions["gnomon"].tokens
    [(made, _user)] = tokens.list_tokens()
    tokens.revoke_token(made.id, ACTOR)
    assert_error(client.get(f"{JOBS}/report", headers=headers), 401, "TOKEN_INVALID")
    assert_error(client.post(f"{JOBS}/report/actions/run", headers=headers), 401, "TOKEN_INVALID")
