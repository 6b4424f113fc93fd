"""A missing chromium or PostgreSQL fails its tests unless GNOMON_TEST_ALLOW_SKIP names it."""

from __future__ import annotations

import pytest

from tests.components import ALLOW_SKIP, allowed_skips, missing


def test_a_missing_component_fails_without_the_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_SKIP, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"chromium is not installed\. Install it, or"):
        missing("chromium", "chromium is not installed", "Install it")


def test_the_opt_out_skips_only_the_components_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "postgres")
    with pytest.raises(pytest.skip.Exception, match=f"down \\({ALLOW_SKIP}=postgres\\)"):
        missing("postgres", "down", "Start it")
    with pytest.raises(pytest.fail.Exception):
        missing("chromium", "chromium is not installed", "Install it")


def test_the_opt_out_refuses_a_name_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP, "chromium, postgress")
    with pytest.raises(pytest.UsageError, match="names postgress; it takes: chromium, postgres"):
        allowed_skips()
    monkeypatch.setenv(ALLOW_SKIP, " chromium , postgres ")
    assert allowed_skips() == {"chromium", "postgres"}
