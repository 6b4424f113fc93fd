"""Requests built to break or stall the API, as any viewer (or anyone) can send them: each one
gets a 4xx in the error envelope naming what is wrong, and quickly."""

from __future__ import annotations

import pytest

from gnomon.services.runtime import Runtime
from tests.api.conftest import API, JOBS, AuthActions, assert_error, assert_ok

TOKENS = f"{API}/auth/tokens"


@pytest.fixture
def viewer(auth: AuthActions) -> AuthActions:
    assert auth.login("viewer").status_code == 200
    return auth


def _fields(body: dict[str, object]) -> list[object]:
    details = body["details"]
    assert isinstance(details, list)
    return [detail["field"] for detail in details]


# --- query integers ----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["５", "1_0", "٣", "+5", " 5", "5 ", "1" * 19, ""])
def test_query_integers_take_ascii_digits_only(viewer: AuthActions, limit: str) -> None:
    response = viewer.get(f"{JOBS}/report/runs", query_string={"limit": limit})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert _fields(body) == ["limit"]
    assert "digits 0-9" in body["details"][0]["message"]


def test_preview_count_takes_ascii_digits_only(viewer: AuthActions) -> None:
    response = viewer.get(f"{JOBS}/report/preview", query_string={"count": "１0"})
    assert _fields(assert_error(response, 400, "VALIDATION_ERROR")) == ["count"]
    assert len(assert_ok(viewer.get(f"{JOBS}/report/preview?count=10"))["next_run_times"]) == 10


def test_token_ids_in_paths_take_ascii_digits_only(admin: AuthActions, runtime: Runtime) -> None:
    created = assert_ok(admin.post(TOKENS, json={"name": "ci"}), 201)
    assert created["id"] == 1
    for spelling in ("１", "0_1", "+1"):
        response = admin.request("DELETE", f"{TOKENS}/{spelling}")
        assert_error(response, 404, "TOKEN_NOT_FOUND")
    assert runtime.store.list_tokens()[0].revoked_at is None
