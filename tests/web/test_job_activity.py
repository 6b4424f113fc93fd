"""The job page's recent activity in a real browser: success rates, the run timeline (hover,
focus and arrow keys), the duration trend drawn from real runs, and the job's audit trail for
admins (not viewers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.servers import Client
from tests.web.server import PASSWORDS, ConsoleServer
from tests.web.test_runs_page import run_and_wait

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def admin_api(console: ConsoleServer) -> Iterator[Client]:
    client = Client(console.url).login("admin", PASSWORDS["admin"])
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def flaky_runs(admin_api: Client) -> list[str]:
    """Two finished runs of `flaky`, which always fails (exit 3), oldest first."""
    return [run_and_wait(admin_api, "flaky") for _ in range(2)]


def duration_svg(page: Page) -> str:
    chart = page.locator("#duration-chart")
    expect(chart).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    page.wait_for_function(
        "() => { const i = document.querySelector('#duration-chart');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    source: Any = chart.get_attribute("src")
    return unquote(source.split(",", 1)[1])


def test_timeline_marks_each_run_and_tells_its_details_on_hover_and_focus(
    admin_page: Page, flaky_runs: list[str]
) -> None:
    page = admin_page
    page.goto("/jobs/flaky")
    older, newer = flaky_runs
    mark = page.locator(f"#run-timeline .mark[data-run-id='{newer}']")
    expect(mark).to_be_visible()
    expect(mark).to_have_attribute("data-status", "failed")
    expect(mark).to_have_attribute("aria-label", re.compile(r"^Failed · .*took \d"))
    # The newest run is last, and the one tab stop of the timeline.
    expect(page.locator("#run-timeline .mark").last).to_have_attribute("data-run-id", newer)
    expect(page.locator("#run-timeline .mark[tabindex='0']")).to_have_count(1)

    page.locator(f"#run-timeline .mark[data-run-id='{older}']").hover()
    detail = page.locator("#timeline-detail")
    expect(detail).to_have_attribute("data-run-id", older)
    expect(detail).to_contain_text("Failed")
    expect(detail).to_contain_text(re.compile(r"started \d{4}-\d{2}-\d{2} .* took \d"))

    mark.focus()
    expect(detail).to_have_attribute("data-run-id", newer)
    page.keyboard.press("ArrowLeft")
    focused = page.evaluate("document.activeElement.dataset.runId")
    assert focused == older
    expect(detail).to_have_attribute("data-run-id", older)
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.runId") == newer
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/runs/{newer}$"))


def test_success_rates_and_duration_trend_come_from_real_runs(
    admin_page: Page, flaky_runs: list[str]
) -> None:
    page = admin_page
    page.goto("/jobs/flaky")
    for rate in ("#rate-24h", "#rate-7d", "#rate-last"):
        expect(page.locator(f"{rate} .rate-value")).to_have_text("0%")
        expect(page.locator(rate)).to_have_attribute("data-level", "poor")
    expect(page.locator("#rate-last")).to_contain_text(re.compile(r"Last \d+ runs"))
    expect(page.locator("#rate-24h")).to_contain_text(re.compile(r"0 of [2-9]|0 of \d\d"))

    svg = duration_svg(page)
    bars = re.findall(r'data-run-id="([^"]+)" data-status="(\w+)" data-ms="(\d+)"', svg)
    assert {(run, "failed") for run in flaky_runs} <= {(run, status) for run, status, _ in bars}
    assert all(int(ms) >= 3000 for _, _, ms in bars)  # flaky sleeps 4 s
    assert "median" in svg
    expect(page.locator("#duration-chart")).to_have_attribute(
        "alt", re.compile(r"last \d+ finished runs")
    )


def test_admin_sees_the_jobs_audit_trail_with_before_and_after(
    admin_page: Page, admin_api: Client
) -> None:
    page = admin_page
    page.goto("/jobs/cleanup")
    expect(page.locator("#job-audit")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#resume-job")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#pause-job")).to_be_visible()

    rows = page.locator("#job-audit-table tbody tr")
    expect(rows.first).to_have_attribute("data-action", "job.resume")
    first = rows.first
    expect(first).to_contain_text("admin")
    expect(first).to_contain_text("Resumed")
    change = first.locator("li[data-key=paused]")
    expect(change.locator("del")).to_have_text("true")
    expect(change.locator("ins")).to_have_text("false")
    expect(rows.nth(1)).to_have_attribute("data-action", "job.pause")
    # Only this job's entries: nothing about another job or a login.
    actions = rows.evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert all(action.startswith("job.") for action in actions), actions


def test_viewer_sees_the_activity_but_no_audit_trail(
    viewer_page: Page, flaky_runs: list[str]
) -> None:
    page = viewer_page
    page.goto("/jobs/flaky")
    expect(page.locator(f"#run-timeline .mark[data-run-id='{flaky_runs[-1]}']")).to_be_visible()
    expect(page.locator("#rate-24h .rate-value")).to_have_text("0%")
    assert 'class="bar"' in duration_svg(page)
    expect(page.locator("#job-audit")).to_be_hidden()
    expect(page.locator("#job-audit-table tbody tr")).to_have_count(0)


def test_activity_in_chinese(admin_page: Page, flaky_runs: list[str]) -> None:
    page = admin_page
    page.goto("/jobs/flaky")
    page.get_by_label("Language").select_option("zh")
    expect(page.locator("#activity-h")).to_have_text("近期活动")
    expect(page.locator("#rate-24h")).to_contain_text("最近 24 小时")
    expect(page.locator(f"#run-timeline .mark[data-run-id='{flaky_runs[-1]}']")).to_have_attribute(
        "aria-label", re.compile(r"^失败 · .*耗时")
    )
    assert "中位数" in duration_svg(page)
    expect(page.locator("#job-audit-h")).to_have_text("此任务的变更记录")
    page.get_by_label("语言").select_option("en")
