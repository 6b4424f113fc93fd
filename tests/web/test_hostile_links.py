"""Links built to lead the browser astray, in a real browser against a real server: the login
page's `next` never leaves the site, and the API docs run under a policy without inline code."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.web.conftest import login
from tests.web.server import PASSWORDS, ConsoleServer

pytestmark = pytest.mark.xdist_group("browser")

# "/\t/evil.example/phish": browsers drop the tab and read "//evil.example/phish".
TAB_TRICK = "%2F%09%2Fevil.example%2Fphish"
HOSTILE_NEXT = [
    TAB_TRICK,
    "%2F%0A%2Fevil.example%2Fphish",  # a newline
    "%2F%0D%2Fevil.example",  # a carriage return
    "%09%2F%2Fevil.example",  # a leading tab
    "%2F%5Cevil.example",  # "/\evil.example"
    "%5C%5Cevil.example",
    "%2F%2Fevil.example",
    "https%3A%2F%2Fevil.example%2F",
    "javascript%3Aalert(1)",
]


def _watch_for_evil(page: Page) -> list[str]:
    """Answer any request to evil.example locally, and list them (none is expected)."""
    seen: list[str] = []
    page.context.route(
        re.compile(r"^https?://evil\.example/"),
        lambda route: route.fulfill(status=200, body="phished", content_type="text/html"),
    )

    def note(request: Request) -> None:
        if urlsplit(request.url).hostname == "evil.example":
            seen.append(request.url)

    page.on("request", note)
    return seen


@pytest.mark.parametrize("next_param", HOSTILE_NEXT)
def test_login_form_never_sends_the_browser_to_another_site(
    page: Page, console: ConsoleServer, next_param: str
) -> None:
    seen = _watch_for_evil(page)
    page.goto(f"/login?next={next_param}")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill(PASSWORDS["viewer"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{console.url}/")
    expect(page.locator("#whoami")).to_contain_text("viewer")
    assert seen == []


def test_login_page_of_a_logged_in_user_never_sends_it_to_another_site(
    page: Page, console: ConsoleServer
) -> None:
    seen = _watch_for_evil(page)
    login(page, "viewer")
    page.goto(f"/login?next={TAB_TRICK}")
    expect(page).to_have_url(f"{console.url}/")
    expect(page.locator("#ov-scheduler-state")).to_be_visible()
    assert seen == []


def test_login_page_still_returns_to_a_path_of_this_site(
    page: Page, console: ConsoleServer
) -> None:
    login(page, "viewer", "%2Fjobs%2Freport%3Ftab%3Druns")
    expect(page).to_have_url(f"{console.url}/jobs/report?tab=runs")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/", "/"),
        ("/jobs/report", "/jobs/report"),
        ("/jobs/report?x=1#runs", "/jobs/report?x=1#runs"),
        ("/runs/a b", "/runs/a%20b"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # stays a path of this site
        ("", "/"),
        ("jobs", "/"),
        (" /jobs", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\/evil.example", "/"),
        ("/jobs\\..\\..\\evil", "/"),
        ("/\t/evil.example/phish", "/"),
        ("/\n/evil.example", "/"),
        ("/\r/evil.example", "/"),
        ("\t//evil.example", "/"),
        ("/\x00/evil.example", "/"),
        ("/\x1f/evil.example", "/"),
        ("/\x7f/evil.example", "/"),
        ("https://evil.example/", "/"),
        ("http:/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("data:text/html,x", "/"),
    ],
)
def test_next_paths_are_sanitised_to_this_site(page: Page, given: str, expected: str) -> None:
    page.goto("/login")
    got = page.evaluate(
        """async (given) => {
            const module = await import("/console/static/next-path.js");
            return module.safeNextPath(given);
        }""",
        given,
    )
    assert got == expected


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
