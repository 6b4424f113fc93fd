"""Every write endpoint, fuzzed as admin with a valid CSRF token: any body (any JSON value, wrong
types, huge numbers, deep nesting, hostile unicode, bytes that are no JSON) and odd path values
get a 2xx or a 4xx in the error envelope, never a 5xx."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from gnomon.api.params import MAX_DEPTH
from tests.api.conftest import (
    API,
    CONFIG,
    JOBS,
    AuthActions,
    assert_error_envelope,
    assert_ok,
)
from tests.conftest import WriteConfig
from tests.e2e.pg import fresh_database
from tests.triggers.fuzz import HOSTILE_TEXT, JSON, WRONG_VALUES, mostly, trigger_inputs

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

#: Text as hostile as JSON can carry it: escapes of NUL and lone surrogates, bidi controls,
#: emoji, digits of other scripts, long strings.
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXT),
    st.text(st.characters(codec=None), max_size=10),
    st.sampled_from(["a" * 101, "a" * 5000, " ", "admin", "viewer", "report"]),
)
HUGE = st.sampled_from([2**53 + 1, 2**63, -(2**63) - 1, 10**30, 10**300])
VALUES = st.one_of(JSON, TEXT, HUGE, WRONG_VALUES)


def nested(depth: int) -> object:
    """Objects and arrays nested `depth` deep, around the limit the API reads."""
    value: object = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


NESTED = st.integers(MAX_DEPTH - 2, MAX_DEPTH + 1).map(nested)


def objects(*keys: str) -> st.SearchStrategy[dict[str, object]]:
    """Objects with some of `keys` (and now and then another key), each any value."""
    names = mostly(st.sampled_from(keys), TEXT, one_in=5) if keys else TEXT
    return st.dictionaries(names, VALUES | NESTED, max_size=4)


ROLES = st.sampled_from(["viewer", "admin", "root", ""])
BODIES = {
    "login": objects("username", "password")
    | st.fixed_dictionaries({"username": TEXT, "password": TEXT}),
    "tokens": objects("user", "name", "expires_in_days")
    | st.fixed_dictionaries(
        {"name": TEXT},
        optional={"user": TEXT, "expires_in_days": st.integers(-5, 4000) | HUGE},
    ),
    "trigger": st.one_of(
        trigger_inputs(),
        trigger_inputs().map(lambda body: {**body, "count": 100}),
        objects("trigger_type", "cron_expression", "timezone", "count", "run_date"),
    ),
    "user": objects("username", "role", "password")
    | st.fixed_dictionaries({"username": TEXT, "role": ROLES, "password": TEXT}),
    "user_patch": objects("role", "disabled")
    | st.fixed_dictionaries({}, optional={"role": ROLES, "disabled": st.booleans()}),
    "password": objects("password") | st.fixed_dictionaries({"password": TEXT}),
    "none": st.sampled_from([None, {}, []]) | objects(),
}


@st.composite
def payloads(draw: st.DrawFn, shape: str) -> bytes | None:
    """A body for an endpoint: mostly JSON of its shape, else any JSON value or broken bytes."""
    kind = draw(st.sampled_from(["shaped"] * 6 + ["json", "nested", "bytes", "absent"]))
    if kind == "absent":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=40) | st.sampled_from([b"[" * 40, b'{"a": NaN}', b"\xff"]))
    value = draw(BODIES[shape] if kind == "shaped" else (VALUES if kind == "json" else NESTED))
    # ensure_ascii writes NUL and lone surrogates as the escapes a client would send.
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def segments(*known: str) -> st.SearchStrategy[str]:
    """A path segment: a known value most of the time, else any text, percent-encoded."""
    return mostly(st.sampled_from(known), TEXT.filter(bool), one_in=3).map(
        lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
    )


OTHER_USERS = segments("viewer", "nobody").filter(lambda name: name != "admin")
JOB_IDS = segments("report", "frozen", "once", "gnomon.prune_runs", "nope")
#: The write endpoints: a URL strategy and a body shape each; the test checks that the app has
#: exactly these.
ENDPOINTS: dict[tuple[str, str], tuple[st.SearchStrategy[str], str]] = {
    ("POST", "/api/v1/auth/login"): (st.just(f"{API}/auth/login"), "login"),
    ("POST", "/api/v1/auth/logout"): (st.just(f"{API}/auth/logout"), "none"),
    ("POST", "/api/v1/auth/tokens"): (st.just(f"{API}/auth/tokens"), "tokens"),
    ("DELETE", "/api/v1/auth/tokens/<token_id>"): (
        segments("1", "2", "0", "-1", "2147483648", "99999999999999999999").map(
            lambda token: f"{API}/auth/tokens/{token}"
        ),
        "none",
    ),
    ("POST", "/api/v1/auth/users/<username>/actions/end-sessions"): (
        segments("admin", "viewer", "nobody").map(
            lambda name: f"{API}/auth/users/{name}/actions/end-sessions"
        ),
        "none",
    ),
    ("POST", "/api/v1/auth/users"): (st.just(f"{API}/auth/users"), "user"),
    # Never the admin whose session the test uses: its password, role or access would go.
    ("PATCH", "/api/v1/auth/users/<username>"): (
        OTHER_USERS.map(lambda name: f"{API}/auth/users/{name}"),
        "user_patch",
    ),
    ("POST", "/api/v1/auth/users/<username>/actions/set-password"): (
        OTHER_USERS.map(lambda name: f"{API}/auth/users/{name}/actions/set-password"),
        "password",
    ),
    ("PUT", "/api/v1/scheduler/jobs/<job_id>"): (JOB_IDS.map(lambda j: f"{JOBS}/{j}"), "trigger"),
    ("POST", "/api/v1/scheduler/jobs/<job_id>/actions/pause"): (
        JOB_IDS.map(lambda j: f"{JOBS}/{j}/actions/pause"),
        "none",
    ),
    ("POST", "/api/v1/scheduler/jobs/<job_id>/actions/resume"): (
        JOB_IDS.map(lambda j: f"{JOBS}/{j}/actions/resume"),
        "none",
    ),
    ("POST", "/api/v1/scheduler/jobs/<job_id>/actions/run"): (
        JOB_IDS.map(lambda j: f"{JOBS}/{j}/actions/run"),
        "none",
    ),
    ("POST", "/api/v1/scheduler/jobs/actions/reload"): (st.just(f"{JOBS}/actions/reload"), "none"),
    ("POST", "/api/v1/scheduler/runs/<run_id>/actions/cancel"): (
        segments("{run}", "00000000-0000-0000-0000-000000000000").map(
            lambda run: f"{API}/scheduler/runs/{run}/actions/cancel"
        ),
        "none",
    ),
    ("POST", "/api/v1/scheduler/triggers/preview"): (
        st.just(f"{API}/scheduler/triggers/preview"),
        "trigger",
    ),
}
#: These end the admin's session when they succeed; the test logs in again.
SESSION_ENDERS = {"/api/v1/auth/logout", "/api/v1/auth/users/<username>/actions/end-sessions"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def config_path(request: pytest.FixtureRequest, write_config: WriteConfig) -> Iterator[Path]:
    """The API tests' configuration, on a SQLite file or a fresh PostgreSQL database (which
    refuses NUL in text, where SQLite stores it)."""
    if request.param == "sqlite":
        yield write_config(CONFIG)
        return
    with fresh_database("gnomon_fuzz") as url:
        yield write_config(f'[store]\nurl = "{url}"\n' + CONFIG)


def check(response: TestResponse) -> None:
    """A 2xx success envelope or a 4xx error envelope; nothing else."""
    assert response.status_code < 500, response.get_json()
    if response.status_code < 400:
        assert_ok(response, response.status_code)
    else:
        assert_error_envelope(response)
        event(f"{response.status_code} {response.get_json()['message_code']}")


def test_any_body_to_any_write_endpoint_gets_2xx_or_an_enveloped_4xx(
    app: Flask, admin: AuthActions, config_path: Path
) -> None:
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) & WRITE_METHODS
    }
    assert routes == set(ENDPOINTS), "a write route is missing from ENDPOINTS, or is gone"
    # A run that exists, for the cancel endpoint to find now and then ("report" runs `true`).
    run_id = assert_ok(admin.post(f"{JOBS}/report/actions/run"))["run_id"]
    slowest: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    on_postgres = "postgresql" in config_path.read_text()

    @settings(
        max_examples=250 if on_postgres else 600,
        deadline=None,
        # One app and one session for every example: state left behind is more to fuzz.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data(), endpoint=st.sampled_from(sorted(ENDPOINTS)))
    def fuzz(data: st.DataObject, endpoint: tuple[str, str]) -> None:
        method, rule = endpoint
        urls, shape = ENDPOINTS[endpoint]
        url = data.draw(urls, "url").replace("%7Brun%7D", run_id)
        body = data.draw(payloads(shape), "body")
        started = time.perf_counter()
        response = admin.request(method, url, data=body, content_type="application/json")
        spent = time.perf_counter() - started
        slowest[rule] = max(slowest.get(rule, 0.0), spent)
        statuses[response.status_code] += 1
        check(response)
        if rule in SESSION_ENDERS and response.status_code == 200:
            assert admin.login("admin").status_code == 200

    fuzz()
    worst = max(slowest, key=slowest.__getitem__)
    print(
        f"{statuses.total()} requests to {len(slowest)} write endpoints, by status "
        f"{dict(sorted(statuses.items()))}; slowest {slowest[worst] * 1000:.0f} ms ({worst})"
    )
