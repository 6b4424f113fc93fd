"""The console in a real browser against a real server: login, jobs, trigger editing with its
preview, actions with confirmation, runs, roles, languages, the not-running banner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import TIMEOUT_MS, login
from tests.web.server import ConsoleServer, start_console_server

pytestmark = pytest.mark.xdist_group("browser")

CJK = re.compile(r"[\u4e00-\u9fff]")


def open_job(page: Page, job_id: str) -> None:
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#job-details")).not_to_be_empty()


def open_editor(page: Page, job_id: str) -> None:
    open_job(page, job_id)
    expect(page.locator("#trigger-form[data-ready]")).to_be_attached()


def confirm(page: Page, title: str) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(title)
    dialog.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()


def test_login_rejects_a_wrong_password_then_opens_the_jobs_table(
    page: Page, console: ConsoleServer
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto("/")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-error")).not_to_be_empty()
    page.get_by_label("Password").fill("admin-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{console.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(6)
    expect(page.locator("#scheduler-banner")).to_be_hidden()
    # Everything the console loads comes from this server: no CDN, no third party.
    assert requests
    assert all(url.startswith(console.url) for url in requests), requests


# Counts, in the tab's session storage (it outlives the navigations), every `submit` event
# and every release of the Enter key, seen first (capture phase) on the document. A form sends
# itself only after dispatching `submit`, and Enter submits a form on its way down (the
# keypress), so a keyup of Enter counted means the implicit submission, if any, has happened.
WATCH_SUBMITS = """
const count = (name) =>
  sessionStorage.setItem(name, String(Number(sessionStorage.getItem(name) || 0) + 1));
document.addEventListener("submit", () => count("submits"), true);
document.addEventListener("keyup", (event) => event.key === "Enter" && count("enters"), true);
"""


def watched(page: Page, name: str) -> int:
    return int(page.evaluate(f"Number(sessionStorage.getItem('{name}') || 0)"))


def test_login_form_stays_shut_until_its_script_handles_it(
    page: Page, console: ConsoleServer
) -> None:
    # Without its script the form must not send itself: a native submit would put the password
    # in the address bar, the history and the server's access log.
    page.add_init_script(WATCH_SUBMITS)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.route("**/login.js", lambda route: route.abort())
    page.goto("/login")
    expect(page.get_by_role("button", name="Log in")).to_be_disabled()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-password")
    page.get_by_label("Password").press("Enter")
    page.wait_for_function("sessionStorage.getItem('enters') === '1'")
    assert watched(page, "submits") == 0
    assert posts == []
    expect(page).to_have_url(f"{console.url}/login")

    # With its script, the same Enter in the same field submits (the watch above sees it), and
    # the script logs in.
    page.unroute("**/login.js")
    page.goto("/login?next=/jobs")
    expect(page.get_by_role("button", name="Log in")).to_be_enabled()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-password")
    page.get_by_label("Password").press("Enter")
    expect(page.locator("#whoami")).to_contain_text("admin")
    assert watched(page, "submits") == 1
    assert posts == [f"{console.url}/api/v1/auth/login"]
    assert "password" not in page.url
    expect(page.locator("#jobs-table tbody tr")).to_have_count(6)


def test_jobs_table_shows_state_trigger_and_times_and_filters(admin_page: Page) -> None:
    page = admin_page
    report = page.locator("#jobs-table tr[data-job-id=report]")
    expect(report).to_contain_text("Nightly report")
    expect(report.locator("[data-state]")).to_have_text("Scheduled")
    expect(report).to_contain_text("Monday through Friday")
    expect(report.locator("td").nth(2)).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} 02:30:00"))

    page.get_by_label("Search by id or name").fill("BACKUP")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)
    expect(page.locator("#jobs-table tbody tr")).to_have_attribute("data-job-id", "backup")
    expect(page).to_have_url(re.compile(r"q=BACKUP"))
    page.get_by_label("Search by id or name").fill("")
    page.get_by_label("State").select_option("finished")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(0)
    expect(page.locator("#jobs-empty")).to_have_text("No job matches these filters.")
    page.get_by_label("State").select_option("scheduled")
    expect(page.locator("#jobs-table tbody tr").first).to_be_visible()


def test_admin_sees_cron_preview_and_field_errors_then_saves_the_new_trigger(
    admin_page: Page,
) -> None:
    page = admin_page
    open_editor(page, "report")
    expression = page.get_by_label("Cron expression")
    expect(expression).to_have_value("0 30 2 * * mon-fri 2099")
    save = page.get_by_role("button", name="Save trigger")
    expect(save).to_be_disabled()

    expression.fill("0 0 61 * * *")
    error = page.locator("#err-cron_expression")
    expect(error).to_contain_text("hour: '61' is out of range 0-23")
    expect(expression).to_have_attribute("aria-invalid", "true")
    expect(save).to_be_disabled()

    expression.fill("0 15 9 * * mon-fri 2099")
    expect(error).to_be_hidden()
    times = page.locator("#preview-times li")
    expect(times).to_have_count(5)
    for text in times.all_inner_texts():
        assert " 09:15:00 UTC+08:00" in text
    expect(page.locator("#preview-description")).to_contain_text("09:15")
    expect(save).to_be_enabled()
    save.click()

    expect(page.locator("#notice")).to_contain_text("09:15")
    expect(page.locator("#job-trigger")).to_have_text("cron[0 15 9 * * mon-fri 2099] Asia/Shanghai")
    expect(page.locator("#job-trigger-description")).to_contain_text("09:15")
    declared = "cron[0 30 2 * * mon-fri 2099]"
    expect(page.locator("#job-details")).to_contain_text(declared)
    expect(page.locator("#job-next-times li").first).to_contain_text("09:15:00")
    expect(save).to_be_disabled()

    page.goto("/jobs")
    row = page.locator("#jobs-table tr[data-job-id=report]")
    expect(row).to_contain_text("09:15")


def test_trigger_editor_checks_separate_cron_fields_interval_date_and_timezone(
    admin_page: Page,
) -> None:
    page = admin_page
    open_editor(page, "cleanup")
    page.get_by_label("separate fields").check()
    expect(page.get_by_label("Hour", exact=True)).to_have_value("4")
    page.get_by_label("Hour", exact=True).fill("25")
    expect(page.locator("#err-cron_hour")).to_contain_text("hour")
    page.get_by_label("Hour", exact=True).fill("5")
    expect(page.locator("#err-cron_hour")).to_be_hidden()
    expect(page.locator("#preview-times li").first).to_contain_text("05:00:00")

    page.get_by_label("Interval").check()
    page.get_by_label("Hours", exact=True).fill("0")
    page.get_by_label("Minutes", exact=True).fill("0")
    page.get_by_label("Days", exact=True).fill("0")
    page.get_by_label("Weeks", exact=True).fill("0")
    page.get_by_label("Seconds", exact=True).fill("0")
    expect(page.locator("#preview-status")).to_have_text("Not valid yet: fix the marked fields.")
    page.get_by_label("Minutes", exact=True).fill("30")
    expect(page.locator("#preview-times li")).to_have_count(5)
    expect(page.locator("#preview-description")).to_contain_text("30 minutes")

    page.get_by_label("Date (once)").check()
    page.get_by_label("Run at (ISO 8601)").fill("2020-01-01T00:00:00")
    expect(page.locator("#err-run_date")).to_contain_text("in the past")
    page.get_by_label("Run at (ISO 8601)").fill("2099-01-01T08:00:00")
    page.get_by_label("Timezone").fill("Mars/Olympus")
    expect(page.locator("#err-timezone")).to_contain_text("unknown timezone")
    page.get_by_label("Timezone").fill("Europe/Paris")
    expect(page.locator("#preview-times li")).to_have_count(1)
    expect(page.locator("#preview-times li")).to_contain_text("2099-01-01 08:00:00 UTC+01:00")

    page.get_by_label("Interval").check()
    page.get_by_label("Start (ISO 8601, optional)").fill("2099-01-01T00:00:00")
    page.get_by_role("button", name="Save trigger").click()
    expect(page.locator("#job-trigger-description")).to_contain_text("30 minutes")
    expect(page.locator("#job-details")).to_contain_text("Europe/Paris")


def test_pause_and_resume_ask_first_and_show_the_outcome(admin_page: Page) -> None:
    page = admin_page
    open_job(page, "frozen")
    expect(page.locator("#editor-locked")).to_be_visible()  # locked: no trigger form
    expect(page.locator("#trigger-form")).to_be_hidden()

    page.get_by_role("button", name="Pause").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Pause “Locked job”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#notice")).to_contain_text("Nothing was changed.")
    expect(page.locator("#job-state")).to_have_text("Scheduled")

    page.get_by_role("button", name="Pause").click()
    confirm(page, "Pause “Locked job”?")
    expect(page.locator("#notice")).to_contain_text("paused")
    expect(page.locator("#job-state")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()

    page.get_by_role("button", name="Resume").click()
    confirm(page, "Resume “Locked job”?")
    expect(page.locator("#notice")).to_contain_text("resumed")
    expect(page.locator("#job-state")).to_have_text("Scheduled")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_run_now_then_watch_the_run_finish_with_its_output(admin_page: Page) -> None:
    page = admin_page
    open_job(page, "backup")
    page.get_by_role("button", name="Run now").click()
    confirm(page, "Run “Database backup” now?")
    link = page.locator("#notice-run-link")
    expect(link).to_be_visible()
    expect(page.locator("#job-running")).to_be_visible()  # running indicator on the job
    link.click()

    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#run-live")).to_be_visible()
    # Live output: the first line shows while the run still runs (it sleeps 5 s after it).
    expect(page.locator("#run-output")).to_have_text("dumping\n", timeout=4_000)
    expect(page.locator("#run-details [data-status]")).to_have_text("Running")
    expect(page.locator("#run-details [data-status]")).to_have_text("Succeeded", timeout=15_000)
    expect(page.locator("#run-live")).to_be_hidden()
    expect(page.locator("#run-output")).to_have_text("dumping\nbackup done\n")
    expect(page.locator("#run-details")).to_contain_text("Manual")
    expect(page.locator("#run-details")).to_contain_text(re.compile(r"[0-9.]+ s"))

    page.locator("#run-job-link").click()
    row = page.locator("#runs-table tbody tr").first
    expect(row.locator("[data-status]")).to_have_text("Succeeded")
    row.get_by_text("Show output").click()
    expect(row.locator("pre")).to_contain_text("backup done")


def test_admin_sees_the_notifications_told_about_a_job(admin_page: Page) -> None:
    page = admin_page
    open_job(page, "flaky")
    page.get_by_role("button", name="Run now").click()
    confirm(page, "Run “Flaky import” now?")
    run_id = page.locator("#notice-run-link").get_attribute("href")
    assert run_id is not None
    # The run fails; its `failed` event goes to `ops`, whose receiver never answers.
    row = page.locator(f"#deliveries-table tbody tr:has(a[href='{run_id}'])")
    expect(row).to_contain_text("failed", timeout=25_000)
    expect(row).to_contain_text("ops")
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(row).to_contain_text("Connect", timeout=25_000)  # the refused attempt's error


def test_reload_asks_first_and_reports_what_it_reloaded(admin_page: Page) -> None:
    page = admin_page
    page.get_by_role("button", name="Reload from configuration").click()
    confirm(page, "Reload every job from the configuration?")
    expect(page.locator("#notice")).to_contain_text("jobs registered")
    expect(page.locator("#notice")).to_have_attribute("data-kind", "success")


def forged_write(page: Page, path: str, with_token: bool = True) -> Any:
    """A write sent by hand from the page, outside the console's controls."""
    return page.evaluate(
        """async ([path, withToken]) => {
            const headers = {};
            if (withToken) {
                const answer = await fetch("/api/v1/auth/csrf-token", {credentials: "same-origin"});
                headers["X-CSRFToken"] = (await answer.json()).data.csrf_token;
            }
            const response = await fetch(
                path, {method: "POST", headers, credentials: "same-origin"});
            return {status: response.status, body: await response.json()};
        }""",
        [path, with_token],
    )


def test_viewer_sees_no_write_controls_and_a_forged_write_is_refused(viewer_page: Page) -> None:
    page = viewer_page
    expect(page.locator("#whoami")).to_contain_text("viewer")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(6)
    expect(page.get_by_role("button", name="Reload from configuration")).to_have_count(0)

    open_job(page, "report")
    for name in ("Pause", "Resume", "Run now", "Reload from configuration", "Save trigger"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.locator("#trigger-editor")).to_be_hidden()
    expect(page.locator("#deliveries")).to_be_hidden()  # notifications are for admins
    expect(page.locator("input:visible")).to_have_count(0)

    refused = forged_write(page, "/api/v1/scheduler/jobs/report/actions/pause")
    assert refused["status"] == 403
    assert refused["body"]["message_code"] == "PERMISSION_DENIED"
    tokenless = forged_write(page, "/api/v1/scheduler/jobs/report/actions/run", with_token=False)
    assert tokenless["status"] == 403
    assert tokenless["body"]["message_code"] == "CSRF_MISSING"
    page.reload()
    expect(page.locator("#job-state")).to_have_text("Scheduled")


def test_chinese_is_remembered_and_the_api_answers_in_chinese(admin_page: Page) -> None:
    page = admin_page
    page.get_by_label("Language").select_option("zh")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("任务")
    expect(page.locator("#jobs-table thead")).to_contain_text("下次运行")
    expect(page.get_by_role("button", name="从配置重新加载")).to_be_visible()
    # trigger_description comes from the API, asked for with Accept-Language: zh
    expect(page.locator("#jobs-table tr[data-job-id=frozen] td").nth(1)).to_contain_text(CJK)

    page.goto("/jobs/no-such-job")
    expect(page.locator("#job-error")).to_contain_text("任务 no-such-job 不存在")
    page.goto("/jobs/frozen")
    expect(page.get_by_role("heading", name="详情")).to_be_visible()
    expect(page.get_by_label("语言")).to_have_value("zh")


def test_keyboard_alone_logs_in_and_focus_stays_visible(page: Page) -> None:
    page.goto("/login?next=/jobs")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type("admin-password")
    page.keyboard.press("Enter")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(6)
    page.get_by_label("Search by id or name").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_label("State")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.locator("#jobs-table a.job-link").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/jobs/"))


def test_phone_width_needs_no_sideways_scrolling(browser: Browser, console: ConsoleServer) -> None:
    context = browser.new_context(base_url=console.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        login(page, "admin")
        for path in ("/", "/jobs", "/jobs/report", "/runs"):
            page.goto(path)
            expect(page.locator("#whoami")).to_be_visible()
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide"
    finally:
        context.close()


@pytest.fixture
def idle_console(tmp_path: Path) -> Iterator[ConsoleServer]:
    """A second server process on its own store that runs the API but no scheduler."""
    server = start_console_server(tmp_path / "idle", "--no-scheduler")
    yield server
    server.stop()


def test_banner_shows_when_no_scheduler_is_running(
    browser: Browser, idle_console: ConsoleServer
) -> None:
    context = browser.new_context(base_url=idle_console.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        login(page, "admin")
        banner = page.locator("#scheduler-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("The scheduler is not running.")
        expect(page.locator("#jobs-empty")).to_contain_text("No scheduler is running")
    finally:
        context.close()
