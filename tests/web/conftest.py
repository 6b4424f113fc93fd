"""Browser fixtures: the console served by a real HTTP server process, and Debian's chromium
driven by Playwright. One server per test session (its jobs are shared, so each test uses its
own job); one fresh browser context (cookies, storage) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.components import missing
from tests.web.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORDS,
    ConsoleServer,
    start_console_server,
)

TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = start_console_server(tmp_path_factory.mktemp("console"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        missing(
            "chromium",
            f"chromium is not installed at {CHROMIUM}",
            "Install it (apt-get install chromium; scripts/test.sh does)",
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, console: ConsoleServer) -> Iterator[Page]:
    context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page: Page, username: str, path: str = "/jobs") -> None:
    """Log in through the login form and land on `path`."""
    page.goto(f"/login?next={path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#whoami")).to_contain_text(username)


@pytest.fixture
def admin_page(page: Page) -> Page:
    login(page, "admin")
    return page


@pytest.fixture
def viewer_page(page: Page) -> Page:
    login(page, "viewer")
    return page
