"""The administration pages in a real browser: users, API tokens and the audit log for admins;
for viewers no link to them, a 403 page and 403 from their APIs; the login page without a
session; both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.servers import Client, ok
from tests.web.server import PASSWORDS, ConsoleServer

pytestmark = pytest.mark.xdist_group("browser")

ADMIN_PAGES = ["/admin/users", "/admin/tokens", "/admin/audit"]


@pytest.fixture(scope="module")
def admin_api(console: ConsoleServer) -> Iterator[Client]:
    client = Client(console.url).login("admin", PASSWORDS["admin"])
    yield client
    client.http.close()


def confirm(page: Page) -> None:
    page.locator("#confirm-ok").click()


def test_viewer_sees_no_admin_link_and_is_refused_every_admin_page_and_api(
    viewer_page: Page,
) -> None:
    page = viewer_page
    page.goto("/")
    expect(page.locator("#ov-scheduler-state")).to_be_visible()
    expect(page.locator("nav [data-admin-nav]")).to_have_count(3)
    expect(page.locator("nav [data-admin-nav]:visible")).to_have_count(0)
    for path in ADMIN_PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Admins only")
        assert "default-src 'self'" in response.headers["content-security-policy"]
    for path in ["/api/v1/auth/users", "/api/v1/auth/tokens", "/api/v1/scheduler/audit"]:
        answer = page.request.get(path)
        assert answer.status == 403 and answer.json()["message_code"] == "PERMISSION_DENIED"


def test_without_a_session_an_admin_page_leads_to_login_and_back(page: Page) -> None:
    page.goto("/admin/audit?action=job.pause")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin%2Faudit%3Faction%3Djob\.pause$"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/audit\?action=job\.pause$"))
    expect(page.locator("#filter-action")).to_have_value("job.pause")


def test_admin_adds_a_user_changes_role_disables_enables_and_sets_a_password(
    admin_page: Page, console: ConsoleServer
) -> None:
    page = admin_page
    page.goto("/")
    page.locator("nav").get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile("/admin/users$"))
    expect(page.locator("tr[data-username=admin]")).to_contain_text("(you)")

    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password (at least 8 characters)", exact=True).fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#err-new-password")).to_contain_text("at least 8")
    expect(page.locator("#new-password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Password (at least 8 characters)", exact=True).fill("dora-password")
    page.get_by_role("button", name="Add user").click()
    row = page.locator("tr[data-username=dora]")
    expect(row).to_contain_text("Active")
    expect(page.locator("#err-new-password")).to_be_hidden()

    dora = Client(console.url).login("dora", "dora-password")
    assert dora.request("GET", "/api/v1/auth/tokens").status_code == 403
    row.get_by_label("Role of dora").select_option("admin")
    confirm(page)
    expect(page.locator("#notice")).to_contain_text("User updated")
    expect(row.get_by_label("Role of dora")).to_have_value("admin")
    assert dora.request("GET", "/api/v1/auth/tokens").status_code == 200  # at once

    row.get_by_role("button", name="Disable").click()
    confirm(page)
    expect(row).to_have_attribute("data-disabled", "true")
    expect(row).to_contain_text("Disabled")
    assert dora.request("GET", "/api/v1/auth/me").status_code == 401
    row.get_by_role("button", name="Enable").click()
    confirm(page)
    expect(row).to_have_attribute("data-disabled", "false")

    row.get_by_role("button", name="Set password").click()
    dialog = page.locator("#password-dialog")
    expect(dialog).to_contain_text("New password for dora")
    dialog.get_by_label("New password").fill("tiny")
    dialog.get_by_role("button", name="Set password").click()
    expect(page.locator("#err-reset-password")).to_contain_text("at least 8")
    dialog.get_by_label("New password").fill("dora-second-password")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notice")).to_contain_text("Password set")
    again = Client(console.url)
    assert again.attempt_login("dora", "dora-password").status_code == 401
    again.login("dora", "dora-second-password")

    row.get_by_role("button", name="End sessions").click()
    confirm(page)
    expect(page.locator("#notice")).to_contain_text("Every session of the user ended")
    assert again.request("GET", "/api/v1/auth/me").status_code == 401
    # Leave no second admin behind for the other tests.
    row.get_by_label("Role of dora").select_option("viewer")
    with page.expect_response(lambda r: r.url.endswith("/auth/users/dora")) as answer:
        confirm(page)
    assert answer.value.status == 200
    assert answer.value.json()["data"]["role"] == "viewer"


def test_the_last_admin_cannot_demote_itself(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/users")
    select = page.locator("tr[data-username=admin]").get_by_label("Role of admin")
    select.select_option("viewer")
    confirm(page)
    expect(page.locator("#notice[data-kind=error]")).to_contain_text("last enabled admin")
    expect(select).to_have_value("admin")


def test_admin_creates_a_token_sees_it_once_sees_its_use_and_revokes_it(
    admin_page: Page, console: ConsoleServer
) -> None:
    page = admin_page
    page.goto("/admin/tokens")
    page.get_by_label("Name").fill("ci-deploy")
    page.locator("#token-user").select_option("viewer")
    page.get_by_label("Expires after").fill("30")
    page.get_by_role("button", name="Create token").click()
    secret_box = page.locator("#token-secret")
    expect(secret_box).to_be_visible()
    expect(secret_box).to_contain_text("not shown again")
    expect(page.locator("#token-secret-value")).to_have_value(re.compile(r"^gnm_\S{40,}$"))
    secret = page.locator("#token-secret-value").input_value()
    row = page.locator("#tokens-table tbody tr").filter(has_text="ci-deploy").first
    expect(row).to_contain_text("Not used yet")
    expect(row).to_have_attribute("data-state", "active")

    bearer = {"Authorization": f"Bearer {secret}"}
    me = requests.get(f"{console.url}/api/v1/auth/me", headers=bearer, timeout=10)
    assert me.status_code == 200 and me.json()["data"]["username"] == "viewer"
    page.reload()
    expect(page.locator("#token-secret")).to_be_hidden()  # shown once only
    assert secret not in page.content()
    expect(row).not_to_contain_text("Not used yet")

    row.get_by_role("button", name="Revoke").click()
    confirm(page)
    expect(row).to_have_attribute("data-state", "revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    gone = requests.get(f"{console.url}/api/v1/auth/me", headers=bearer, timeout=10)
    assert gone.status_code == 401


def test_token_form_names_a_bad_field(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/tokens")
    page.get_by_label("Name").fill("long-lived")
    page.get_by_label("Expires after").fill("99999")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#err-token-days")).to_contain_text("1 to 3650")
    expect(page.locator("#token-secret")).to_be_hidden()


def test_audit_log_filters_and_pages_kept_in_the_url(admin_page: Page, admin_api: Client) -> None:
    for action in ("pause", "resume", "pause", "resume"):
        ok(admin_api.request("POST", f"/api/v1/scheduler/jobs/cleanup/actions/{action}"))
    page = admin_page
    page.goto("/admin/audit?limit=1")
    # The form listens once the page has started (its first rows are drawn after that).
    expect(page.locator("#audit-table")).to_have_attribute("data-query", "limit=1")
    page.get_by_label("Action").select_option("job.pause")
    expect(page).to_have_url(re.compile(r"action=job\.pause"))
    page.get_by_label("Job").fill("cleanup")
    page.get_by_label("Job").press("Enter")
    expect(page).to_have_url(re.compile(r"job_id=cleanup"))
    # The rows shown are those of this very filter (not of the one before it).
    expect(page.locator("#audit-table")).to_have_attribute(
        "data-query", "action=job.pause&job_id=cleanup&limit=1"
    )
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    first_id = rows.first.get_attribute("data-audit-id")
    expect(rows.first).to_have_attribute("data-action", "job.pause")
    expect(rows.first).to_contain_text("cleanup")
    expect(rows.first.locator("li[data-key=paused] ins")).to_have_text("true")

    page.locator("#audit-older").click()
    expect(page).to_have_url(re.compile(rf"before_id={first_id}"))
    expect(page.locator("#audit-table")).to_have_attribute(
        "data-query", re.compile(rf"before_id={first_id}$")
    )
    expect(rows).to_have_count(1)
    expect(rows.first).not_to_have_attribute("data-audit-id", first_id or "")
    expect(rows.first).to_have_attribute("data-action", "job.pause")
    expect(page.locator("#audit-newest")).to_be_visible()
    page.go_back()
    expect(page.locator("#audit-table")).to_have_attribute(
        "data-query", "action=job.pause&job_id=cleanup&limit=1"
    )
    expect(rows.first).to_have_attribute("data-audit-id", first_id or "")

    page.get_by_label("Who").fill("admin")
    page.get_by_label("Who").press("Enter")
    expect(page.locator("#audit-table")).to_have_attribute("data-query", re.compile(r"actor=admin"))
    expect(rows).to_have_count(1)
    page.get_by_label("From (your time)").fill("2026-06-02T00:00:00")
    page.get_by_label("Before (your time)").fill("2026-06-01T00:00:00")
    page.get_by_label("Before (your time)").press("Enter")
    expect(page.locator("#audit-error")).to_contain_text("until")
    expect(page.locator("#filter-until")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    expect(rows.first).to_be_visible()


def test_admin_pages_in_chinese(browser: Browser, console: ConsoleServer) -> None:
    context = browser.new_context(base_url=console.url, viewport={"width": 390, "height": 844})
    context.add_init_script("localStorage.setItem('gnomon.language', 'zh')")
    page = context.new_page()
    try:
        page.goto("/login?next=/admin/users")
        page.locator("#username").fill("admin")
        page.locator("#password").fill(PASSWORDS["admin"])
        page.locator("#password").press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("用户")
        expect(page.locator("tr[data-username=admin]")).to_contain_text("（你）")
        page.goto("/admin/tokens")
        expect(page.get_by_role("heading", level=1)).to_have_text("API 令牌")
        page.goto("/admin/audit")
        expect(page.get_by_role("heading", level=1)).to_have_text("审计日志")
        expect(page.locator("#audit-table tbody tr").first).to_be_visible()
        expect(page.locator("#filter-action option[value='job.pause']")).to_have_text("暂停")
        # Phone width: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        context.close()


def test_users_page_works_from_the_keyboard(admin_page: Page, admin_api: Client) -> None:
    body = {"username": "erin", "role": "viewer", "password": "erin-password"}
    assert admin_api.request("POST", "/api/v1/auth/users", body).status_code == 201
    page = admin_page
    page.goto("/admin/users")
    row = page.locator("tr[data-username=erin]")
    row.get_by_role("button", name="Disable").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.keyboard.press("Tab")  # from Cancel to the confirming button
    page.keyboard.press("Enter")
    expect(row).to_have_attribute("data-disabled", "true")
    # The focus stays on the row's toggle, now Enable, after the rows are drawn again.
    expect(row.get_by_role("button", name="Enable")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(row).to_have_attribute("data-disabled", "false")
    expect(row.get_by_role("button", name="Disable")).to_be_focused()
