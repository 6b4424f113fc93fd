"""A flood of logins costs the server little: failures counted per client address whatever
usernames it tries, and at most `login_max_concurrent_hashes` password hashes at once, the
rest refused at once, unhashed. Known and unknown usernames are handled alike throughout.

(Real server processes: tests/e2e/test_serve_api.py.)"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gnomon.api import create_app
from gnomon.api.state import state
from gnomon.services.login_throttle import LoginThrottle, client_failure_key
from gnomon.services.runtime import Runtime
from gnomon.services.users import UserService
from tests.api.conftest import API, CHEAP_HASHER, PASSWORDS, assert_error, assert_ok

LOGIN = f"{API}/auth/login"
HERE, ELSEWHERE = "127.0.0.1", "127.0.0.9"


def app_with(runtime: Runtime, **server: Any) -> Flask:
    return create_app(runtime, runtime.config.settings.server.model_copy(update=server))


def login(
    app: Flask,
    username: str,
    password: str = "wrong-password",
    address: str = HERE,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """A login from a new client (its own session and CSRF token) at `address`."""
    client: FlaskClient = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = client.get(f"{API}/auth/csrf-token").json["data"]["csrf_token"]
    return client.post(
        LOGIN,
        json={"username": username, "password": password},
        headers={"X-CSRFToken": token, **(headers or {})},
    )


def test_one_address_trying_many_usernames_is_throttled_whatever_the_username(
    runtime: Runtime,
) -> None:
    app = app_with(runtime, login_max_client_failures=5)
    # Unknown usernames and a known one with a wrong password count alike.
    for name in ["nobody-1", "admin", "nobody-2", "viewer", "nobody-3"]:
        assert_error(login(app, name), 401, "INVALID_CREDENTIALS")
    for name, password in [("nobody-4", "wrong-password"), ("admin", PASSWORDS["admin"])]:
        response = login(app, name, password)
        body = assert_error(response, 429, "RATE_LIMITED")
        assert body["category"] == "security"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another address is counted apart.
    assert_ok(login(app, "admin", PASSWORDS["admin"], address=ELSEWHERE))


def test_successful_logins_do_not_count_against_their_address(runtime: Runtime) -> None:
    app = app_with(runtime, login_max_client_failures=3)
    for _ in range(6):  # twice the limit, all let in
        assert_ok(login(app, "viewer", PASSWORDS["viewer"]))
    for name in ["nobody-1", "nobody-2"]:
        assert_error(login(app, name), 401, "INVALID_CREDENTIALS")
    # A success forgets only itself, not the address's failures under other usernames.
    assert_ok(login(app, "admin", PASSWORDS["admin"]))
    assert_error(login(app, "nobody-3"), 401, "INVALID_CREDENTIALS")
    assert_error(login(app, "admin", PASSWORDS["admin"]), 429, "RATE_LIMITED")


def test_the_address_window_slides(app: Flask, runtime: Runtime) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    throttle = LoginThrottle(
        runtime.store, max_failures=10, window_s=60, clock=lambda: now[0], max_client_failures=2
    )
    app.extensions["gnomon"].throttle = throttle
    for name in ["nobody-1", "nobody-2"]:
        assert_error(login(app, name), 401, "INVALID_CREDENTIALS")
        now[0] += timedelta(seconds=10)
    response = login(app, "nobody-3")
    assert_error(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "40"  # when the first failure leaves the window
    now[0] += timedelta(seconds=40)
    assert_ok(login(app, "admin", PASSWORDS["admin"]))


def test_the_address_is_the_client_behind_a_trusted_proxy_and_forgeries_count_as_one(
    runtime: Runtime,
) -> None:
    def forwarded(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": address}

    trusting = app_with(runtime, login_max_client_failures=3, trusted_proxies=1)
    for n in range(3):
        response = login(trusting, f"nobody-{n}", headers=forwarded("203.0.113.9"))
        assert_error(response, 401, "INVALID_CREDENTIALS")
    response = login(trusting, "admin", PASSWORDS["admin"], headers=forwarded("203.0.113.9"))
    assert_error(response, 429, "RATE_LIMITED")
    # Everyone else behind the same proxy is counted apart.
    assert_ok(login(trusting, "admin", PASSWORDS["admin"], headers=forwarded("198.51.100.7")))
    # Trusting no proxy, a different forged address per attempt does not escape the count.
    plain = app_with(runtime, login_max_client_failures=3)
    for n in range(3):
        response = login(plain, f"other-{n}", address="127.0.0.5", headers=forwarded(f"10.0.0.{n}"))
        assert_error(response, 401, "INVALID_CREDENTIALS")
    response = login(plain, "other-9", address="127.0.0.5", headers=forwarded("10.0.0.9"))
    assert_error(response, 429, "RATE_LIMITED")


class GatedHasher(PasswordHasher):
    """CHEAP_HASHER's parameters; each hash and verify waits at a gate the test opens, and
    they are counted."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def _wait(self) -> None:
        with self._lock:
            self.calls += 1
        self.entered.release()
        assert self.gate.wait(30), "the test never opened the gate"

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._wait()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._wait()
        return super().verify(hash, password)


@pytest.fixture
def gated(runtime: Runtime) -> GatedHasher:
    hasher = GatedHasher()
    runtime.users = UserService(runtime.store, hasher=hasher)
    return hasher


@pytest.mark.parametrize(
    ("holder", "refused"),
    [(("admin", PASSWORDS["admin"]), "nobody"), (("nobody", "wrong-password"), "admin")],
    ids=["known-holds-unknown-refused", "unknown-holds-known-refused"],
)
def test_a_login_finding_every_hash_slot_busy_is_refused_at_once_unhashed_and_uncounted(
    runtime: Runtime, gated: GatedHasher, holder: tuple[str, str], refused: str
) -> None:
    app = app_with(runtime, login_max_concurrent_hashes=1)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(login, app, *holder)
        assert gated.entered.acquire(timeout=30)  # the one slot is hashing
        started = time.monotonic()
        response = login(app, refused, address=ELSEWHERE)
        elapsed = time.monotonic() - started
        gated.gate.set()
        first = held.result(timeout=30)
    body = assert_error(response, 503, "LOGIN_BUSY")
    assert body["category"] == "security" and body["recoverable"] is True
    assert response.headers["Retry-After"] == "1"
    assert elapsed < 1.0
    assert gated.calls == 1  # the refused login hashed nothing...
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert (
        runtime.store.login_failures(client_failure_key(ELSEWHERE), since) == []
    )  # ...nor counted
    assert first.status_code == (200 if holder[0] == "admin" else 401)
    # The slot is free again: the refused login goes through now.
    retried = login(app, refused, PASSWORDS.get(refused, "wrong-password"), address=ELSEWHERE)
    assert retried.status_code == (200 if refused == "admin" else 401)


def test_as_many_logins_hash_at_once_as_configured(runtime: Runtime, gated: GatedHasher) -> None:
    app = app_with(runtime, login_max_concurrent_hashes=3)
    with ThreadPoolExecutor(3) as pool:
        held = [pool.submit(login, app, f"nobody-{n}", address=f"127.0.1.{n}") for n in range(3)]
        for _ in held:
            assert gated.entered.acquire(timeout=30)
        assert_error(login(app, "admin", PASSWORDS["admin"]), 503, "LOGIN_BUSY")
        gated.gate.set()
        assert [future.result(timeout=30).status_code for future in held] == [401] * 3
    assert gated.calls == 3


def test_slots_are_given_back_by_failed_throttled_and_broken_logins(runtime: Runtime) -> None:
    app = app_with(runtime, login_max_concurrent_hashes=1, login_max_failures=2)
    for _ in range(2):
        assert_error(login(app, "admin"), 401, "INVALID_CREDENTIALS")
    assert_error(login(app, "admin"), 429, "RATE_LIMITED")

    class Broken(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            raise RuntimeError("the hasher broke")

    runtime.users = UserService(runtime.store, hasher=Broken())
    assert_error(login(app, "viewer"), 500, "INTERNAL_ERROR")
    runtime.users = UserService(runtime.store, hasher=CHEAP_HASHER)
    assert_ok(login(app, "viewer", PASSWORDS["viewer"]))


def test_login_busy_is_translated_and_documented(runtime: Runtime, gated: GatedHasher) -> None:
    app = app_with(runtime, login_max_concurrent_hashes=1)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(login, app, "nobody")
        assert gated.entered.acquire(timeout=30)
        response = login(app, "admin", address=ELSEWHERE, headers={"Accept-Language": "zh"})
        gated.gate.set()
        held.result(timeout=30)
    assert "秒后重试" in assert_error(response, 503, "LOGIN_BUSY")["message"]
    with app.test_request_context():
        assert state().hash_slots.size == 1
    document = app.test_client().get(f"{API}/openapi.json").json
    assert "503" in document["paths"][LOGIN]["post"]["responses"]
