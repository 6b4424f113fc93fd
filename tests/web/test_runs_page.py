"""The runs page in a real browser: runs of every job, filters and pages kept in the URL (and
going back through them), links to each run, both roles and both languages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.servers import Client, ok
from tests.web.server import PASSWORDS, ConsoleServer

pytestmark = pytest.mark.xdist_group("browser")

ROWS = "#all-runs-table tbody tr"


@pytest.fixture(scope="module")
def admin_api(console: ConsoleServer) -> Iterator[Client]:
    client = Client(console.url).login("admin", PASSWORDS["admin"])
    yield client
    client.http.close()


def run_and_wait(api: Client, job_id: str) -> str:
    run_id: str = ok(api.request("POST", f"/api/v1/scheduler/jobs/{job_id}/actions/run"))["run_id"]
    deadline = time.monotonic() + 15
    while ok(api.request("GET", f"/api/v1/scheduler/runs/{run_id}"))["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, f"run {run_id} did not end"
        time.sleep(0.1)
    return run_id


@pytest.fixture(scope="module")
def cleanup_runs(admin_api: Client) -> list[str]:
    """Three finished manual runs of `cleanup` (it runs `true`), oldest first."""
    return [run_and_wait(admin_api, "cleanup") for _ in range(3)]


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_admin_filters_runs_in_the_url_pages_through_them_and_opens_one(
    admin_page: Page, cleanup_runs: list[str]
) -> None:
    page = admin_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Runs")
    expect(page.locator(f"{ROWS}[data-run-id='{cleanup_runs[-1]}']")).to_be_visible()

    page.get_by_label("Job", exact=True).fill("cleanup")
    page.get_by_label("Job", exact=True).press("Enter")
    expect(page.locator(ROWS)).to_have_count(3)
    assert query_of(page) == {"job_id": ["cleanup"]}
    ids = [row.get_attribute("data-run-id") for row in page.locator(ROWS).all()]
    assert ids == cleanup_runs[::-1]  # newest first
    first = page.locator(ROWS).first
    expect(first.locator("[data-status]")).to_have_text("Succeeded")
    expect(first).to_contain_text("Manual")

    page.get_by_label("Failed").check()
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("#runs-empty")).to_have_text("No runs match these filters.")
    page.get_by_label("Timed out").check()
    assert query_of(page) == {"job_id": ["cleanup"], "status": ["failed,timed_out"]}
    page.get_by_label("Failed").uncheck()
    page.get_by_label("Timed out").uncheck()
    page.get_by_label("Succeeded").check()
    page.get_by_label("Source").select_option("manual")
    expect(page.locator(ROWS)).to_have_count(3)
    wanted = {"job_id": ["cleanup"], "status": ["succeeded"], "trigger_source": ["manual"]}
    assert query_of(page) == wanted

    # The filters come back from the URL.
    page.reload()
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.get_by_label("Succeeded")).to_be_checked()
    expect(page.get_by_label("Failed")).not_to_be_checked()
    expect(page.get_by_label("Job", exact=True)).to_have_value("cleanup")
    expect(page.get_by_label("Source")).to_have_value("manual")

    # Pages of two: the cursor goes into the URL, and Back returns to the newer page.
    page.goto("/runs?job_id=cleanup&limit=2")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator("#runs-newest")).to_be_hidden()
    page.get_by_role("link", name="Older runs →").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", cleanup_runs[0])
    assert "cursor" in query_of(page) and query_of(page)["limit"] == ["2"]
    expect(page.get_by_role("link", name="Older runs →")).to_be_hidden()
    page.go_back()
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", cleanup_runs[2])
    assert "cursor" not in query_of(page)
    page.go_forward()
    expect(page.locator(ROWS)).to_have_count(1)
    page.get_by_role("link", name="← Newest runs").click()
    expect(page.locator(ROWS)).to_have_count(2)

    page.locator(ROWS).first.locator("a.run-link").click()
    expect(page).to_have_url(re.compile(f"/runs/{cleanup_runs[2]}$"))
    expect(page.locator("#run-details [data-status]")).to_have_text("Succeeded")


def test_a_bad_filter_is_named_by_the_api_and_marked(admin_page: Page) -> None:
    page = admin_page
    page.goto("/runs?since=yesterday&node=x")
    expect(page.locator("#runs-error")).to_contain_text("since")
    expect(page.get_by_label("Queued from (your time)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Node")).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("#runs-error")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/runs$"))


def test_a_time_range_is_entered_in_local_time_and_sent_as_an_instant(
    admin_page: Page, cleanup_runs: list[str]
) -> None:
    page = admin_page
    page.goto("/runs?job_id=cleanup")
    expect(page.locator(ROWS)).to_have_count(3)
    page.get_by_label("Queued before (your time)").fill("2020-01-01T00:00:00")
    page.get_by_label("Queued before (your time)").press("Enter")
    expect(page.locator(ROWS)).to_have_count(0)
    [until] = query_of(page)["until"]
    assert re.fullmatch(r"20(19-12-31|20-01-01)T\d\d:\d\d:00\.000Z", until), until
    page.reload()
    # (chromium leaves zero seconds out of the value)
    expect(page.get_by_label("Queued before (your time)")).to_have_value(
        re.compile(r"^2020-01-01T00:00(:00)?$")
    )


def test_viewer_reads_runs_of_every_job_without_any_write_control(
    viewer_page: Page, cleanup_runs: list[str]
) -> None:
    page = viewer_page
    page.goto("/runs?trigger_source=manual")
    expect(page.locator(f"{ROWS}[data-run-id='{cleanup_runs[0]}']")).to_be_visible()
    expect(page.locator("button:visible")).to_have_count(2)  # Log out, Apply filters
    expect(page.get_by_role("button", name="Apply filters")).to_be_visible()
    page.locator(f"{ROWS}[data-run-id='{cleanup_runs[0]}'] a", has_text="cleanup").click()
    expect(page).to_have_url(re.compile(r"/jobs/cleanup$"))
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)


def test_runs_page_in_chinese(admin_page: Page, cleanup_runs: list[str]) -> None:
    page = admin_page
    page.goto("/runs?job_id=cleanup")
    page.get_by_label("Language").select_option("zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("运行记录")
    expect(page.locator(ROWS).first.locator("[data-status]")).to_have_text("成功")
    expect(page.get_by_label("成功")).to_be_visible()
    expect(page.locator("#runs-summary")).to_contain_text("符合条件的最新 3 次运行")
    page.get_by_label("语言").select_option("en")


def test_login_comes_back_to_the_filtered_page(page: Page, console: ConsoleServer) -> None:
    page.goto("/runs?status=failed,missed")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill(PASSWORDS["viewer"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{console.url}/runs?status=failed,missed")
    expect(page.get_by_label("Failed")).to_be_checked()
    expect(page.get_by_label("Missed")).to_be_checked()
