"""server.trusted_proxies: X-Forwarded-* headers count only from as many proxies as configured."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from gnomon.api import create_app
from gnomon.services.runtime import Runtime
from tests.api.conftest import API, PASSWORDS, AuthActions, assert_error

FORGED = "203.0.113.9"


def app_trusting(runtime: Runtime, proxies: int) -> Flask:
    settings = runtime.config.settings.server.model_copy(update={"trusted_proxies": proxies})
    return create_app(runtime, settings)


def login_from(auth: AuthActions, forwarded_for: str, password: str) -> int:
    token = auth.fetch_csrf()
    response = auth.client.post(
        f"{API}/auth/login",
        json={"username": "admin", "password": password},
        headers={"X-CSRFToken": token, "X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def last_login_client(runtime: Runtime) -> str | None:
    entries = [e for e in runtime.store.list_audit(limit=20) if e.action == "auth.login"]
    return entries[0].client


@pytest.mark.parametrize(("proxies", "client"), [(0, "127.0.0.1"), (1, FORGED)])
def test_audit_names_the_forwarded_client_only_behind_a_trusted_proxy(
    runtime: Runtime, proxies: int, client: str
) -> None:
    auth = AuthActions(app_trusting(runtime, proxies).test_client())
    assert login_from(auth, FORGED, PASSWORDS["admin"]) == 200
    assert last_login_client(runtime) == client


def test_with_one_proxy_only_the_address_it_appended_counts(runtime: Runtime) -> None:
    auth = AuthActions(app_trusting(runtime, 1).test_client())
    # A client's own X-Forwarded-For comes first; the trusted proxy appends the real address.
    assert login_from(auth, f"10.9.9.9, {FORGED}", PASSWORDS["admin"]) == 200
    assert last_login_client(runtime) == FORGED


def test_without_trusted_proxies_a_forged_address_does_not_escape_the_throttle(
    runtime: Runtime,
) -> None:
    auth = AuthActions(app_trusting(runtime, 0).test_client())
    for n in range(10):
        assert login_from(auth, f"198.51.100.{n}", "wrong-password") == 401
    token = auth.fetch_csrf()
    response = auth.client.post(
        f"{API}/auth/login",
        json={"username": "admin", "password": PASSWORDS["admin"]},
        headers={"X-CSRFToken": token, "X-Forwarded-For": "198.51.100.99"},
    )
    assert_error(response, 429, "RATE_LIMITED")


def test_behind_a_trusted_proxy_the_throttle_counts_each_client_apart(runtime: Runtime) -> None:
    auth = AuthActions(app_trusting(runtime, 1).test_client())
    for _ in range(10):
        assert login_from(auth, FORGED, "wrong-password") == 401
    assert login_from(auth, FORGED, PASSWORDS["admin"]) == 429
    # Everyone else behind the same proxy can still log in.
    assert login_from(auth, "198.51.100.7", PASSWORDS["admin"]) == 200


@pytest.mark.parametrize(("proxies", "secure"), [(0, False), (1, True)])
def test_cookies_are_secure_when_a_trusted_proxy_says_https(
    runtime: Runtime, proxies: int, secure: bool
) -> None:
    client = app_trusting(runtime, proxies).test_client()
    response = client.get(f"{API}/auth/csrf-token", headers={"X-Forwarded-Proto": "https"})
    assert ("Secure" in response.headers["Set-Cookie"]) is secure


def test_a_trusted_proxy_gives_the_public_host_for_the_origin_check(runtime: Runtime) -> None:
    client = app_trusting(runtime, 1).test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gnomon.example"}
    token = client.get(f"{API}/auth/csrf-token", headers=forwarded).json["data"]["csrf_token"]

    def login(origin: str) -> TestResponse:
        return client.post(
            f"{API}/auth/login",
            json={"username": "admin", "password": PASSWORDS["admin"]},
            headers={**forwarded, "X-CSRFToken": token, "Origin": origin},
        )

    assert_error(login("https://evil.example"), 403, "CSRF_INVALID")
    assert login("https://gnomon.example").status_code == 200
