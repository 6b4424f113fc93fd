"""The API docs in a real browser against a real server: they run under a policy that allows
no inline code and no HTML parsed from strings."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import login
from tests.web.server import ConsoleServer

pytestmark = pytest.mark.xdist_group("browser")


def test_api_docs_render_and_send_under_their_policy(page: Page, console: ConsoleServer) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    login(page, "viewer")
    response = page.goto("/api/v1/docs")
    assert response is not None
    assert "require-trusted-types-for 'script'" in response.headers["content-security-policy"]
    operation = page.locator('details[data-operation="GET /api/v1/auth/me"]')
    operation.locator("summary").first.click()
    operation.get_by_role("button", name="Send").click()
    expect(operation.locator("pre.out")).to_contain_text('"username": "viewer"')
    expect(page.locator("#ops h2").first).to_be_visible()
    violations = [text for text in problems if "Content Security Policy" in text]
    violations += [text for text in problems if "TrustedHTML" in text or "Trusted Type" in text]
    assert violations == []
