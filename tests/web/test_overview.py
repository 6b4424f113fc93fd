"""The overview (home page) in a real browser: the scheduler and its node, jobs by state, runs by
status, a run going on with its elapsed time, a failure linked to its run, the next fires, and
the charts (runs per hour, duration percentiles per job) drawn from real run history over the
range chosen; as admin, as viewer, in Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from gnomon.domain import Node
from gnomon.store.sql import SqlStore
from tests.e2e.servers import Client, ok
from tests.web.server import PASSWORDS, ConsoleServer
from tests.web.test_runs_page import run_and_wait

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def admin_api(console: ConsoleServer) -> Iterator[Client]:
    client = Client(console.url).login("admin", PASSWORDS["admin"])
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def history(admin_api: Client) -> dict[str, str]:
    """A failed run of `flaky` and a succeeded one of `report`, both finished (the runs page's
    tests count the runs of `cleanup`)."""
    return {
        "failed": run_and_wait(admin_api, "flaky"),
        "succeeded": run_and_wait(admin_api, "report"),
    }


SERIES = re.compile(
    r'class="series" data-job-id="([^"]+)" data-percentile="(p\d+)" data-points="(\d+)"'
)


def chart_of(page: Page, image: str = "#ov-chart", source: str = "runs-per-hour") -> dict[str, Any]:
    """The chart image as the browser loaded it, and the SVG it shows."""
    chart = page.locator(image)
    expect(chart).to_have_attribute("src", re.compile(source + r"\.svg\?"))
    loaded = f"() => {{ const i = document.querySelector('{image}');"
    page.wait_for_function(loaded + " return i.complete && i.naturalWidth > 0; }")
    result: dict[str, Any] = page.evaluate(
        """async (selector) => {
            const image = document.querySelector(selector);
            const answer = await fetch(image.src, {credentials: "same-origin"});
            return {width: image.naturalWidth, height: image.naturalHeight, alt: image.alt,
                    type: answer.headers.get("content-type"), svg: await answer.text()};
        }""",
        image,
    )
    return result


def durations_of(page: Page) -> dict[str, Any]:
    return chart_of(page, "#ov-durations", "stats/durations")


def test_admin_overview_shows_the_scheduler_jobs_runs_chart_and_next_fires(
    admin_page: Page, admin_api: Client, history: dict[str, str]
) -> None:
    page = admin_page
    page.get_by_role("link", name="gnomon").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("#ov-scheduler-state")).to_have_text("Running")
    leader = ok(admin_api.request("GET", "/api/v1/scheduler/status"))["leader"]
    expect(page.locator("#ov-scheduler")).to_contain_text(leader)
    expect(page.locator("#ov-jobs a[href='/jobs?state=scheduled']")).to_contain_text("Scheduled")

    failed_24h = page.locator("#ov-run-counts tr[data-status=failed] td").first
    expect(failed_24h).not_to_have_text("0")
    failed_24h.locator("a").click()
    expect(page).to_have_url(re.compile(r"/runs\?status=failed&since="))
    expect(page.locator(f"#all-runs-table tr[data-run-id='{history['failed']}']")).to_be_visible()
    page.go_back()

    problem = page.locator(f"#ov-problems tr[data-run-id='{history['failed']}']")
    expect(problem).to_contain_text("flaky")
    expect(problem.locator("[data-status]")).to_have_text("Failed")
    expect(page.locator("#ov-next tr[data-job-id=flaky]")).to_contain_text("05:00:00")

    chart = chart_of(page)
    assert chart["width"] > 0 and chart["height"] > 0
    assert chart["type"].startswith("image/svg+xml")
    bars = re.findall(r'class="bar" data-status="(\w+)" data-count="(\d+)"', chart["svg"])
    assert {"succeeded", "failed"} <= {status for status, _ in bars}, chart["svg"][:500]
    assert sum(int(count) for _, count in bars) >= 2
    assert re.search(r"\d+ runs in all", chart["alt"])

    problem.locator("a").filter(has_text="Failed").click()
    expect(page).to_have_url(re.compile(f"/runs/{history['failed']}$"))
    expect(page.locator("#run-details")).to_contain_text("exit")


def test_a_run_going_on_is_shown_with_its_elapsed_time_then_as_a_failure(
    admin_page: Page, admin_api: Client
) -> None:
    page = admin_page
    run_id = ok(admin_api.request("POST", "/api/v1/scheduler/jobs/flaky/actions/run"))["run_id"]
    page.goto("/")
    row = page.locator(f"#ov-running tr[data-run-id='{run_id}']")
    expect(row).to_contain_text("flaky")
    elapsed = row.locator(".elapsed")
    expect(elapsed).to_have_text(re.compile(r"^(\d+(\.\d+)? s|\d+ ms|Waiting to start)$"))
    first = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first)  # it ticks every second
    # While a run goes on the page refreshes every 2 s: the run ends (4 s) and moves.
    expect(row).to_have_count(0, timeout=15_000)
    problem = page.locator(f"#ov-problems tr[data-run-id='{run_id}']")
    expect(problem.locator("[data-status]")).to_have_text("Failed")


def test_viewer_sees_the_overview_without_any_write_control(
    viewer_page: Page, history: dict[str, str]
) -> None:
    page = viewer_page
    page.goto("/")
    expect(page.locator("#ov-scheduler-state")).to_have_text("Running")
    expect(page.locator(f"#ov-problems tr[data-run-id='{history['failed']}']")).to_be_visible()
    assert chart_of(page)["svg"].count('class="bar"') > 0
    expect(page.locator("button:visible")).to_have_count(1)  # Log out


@pytest.fixture
def worker_node(console: ConsoleServer) -> Iterator[str]:
    """A `gnomon worker` registered in the console's store (as its heartbeat writes it)."""
    assert console.workdir is not None
    store = SqlStore(f"sqlite:///{console.workdir / 'data' / 'gnomon.db'}")
    node_id = "buildhost-4242-worker"
    now = store.current_time()
    store.heartbeat(
        Node(
            node_id,
            "buildhost",
            4242,
            now,
            now,
            roles=("worker",),
            queues=("reports", "mail"),
            concurrency=4,
        )
    )
    try:
        yield node_id
    finally:
        store.remove_node(node_id)
        store.close()


def test_a_worker_node_is_marked_with_its_queues_and_concurrency_in_both_languages(
    admin_page: Page, admin_api: Client, worker_node: str
) -> None:
    page = admin_page
    page.goto("/")
    worker = page.locator(f"#ov-scheduler li[data-node-id='{worker_node}']")
    expect(worker.locator("[data-role=worker]")).to_have_text("worker")
    expect(worker.locator("[data-worker]")).to_have_text("queues reports, mail, 4 at once")
    expect(worker).to_contain_text("on buildhost")
    leader = ok(admin_api.request("GET", "/api/v1/scheduler/status"))["leader"]
    scheduler = page.locator(f"#ov-scheduler li[data-node-id='{leader}']")
    expect(scheduler).to_contain_text("leader")
    expect(scheduler.locator("[data-role=worker]")).to_have_count(0)
    page.get_by_label("Language").select_option("zh")
    expect(worker.locator("[data-role=worker]")).to_have_text("执行节点")
    expect(worker.locator("[data-worker]")).to_have_text("队列 reports, mail，并发 4")
    page.get_by_label("语言").select_option("en")


def test_overview_in_chinese_draws_the_chart_in_chinese(
    admin_page: Page, history: dict[str, str]
) -> None:
    page = admin_page
    page.goto("/")
    page.get_by_label("Language").select_option("zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("概览")
    expect(page.locator("#ov-scheduler-state")).to_have_text("运行中")
    chart = chart_of(page)
    assert "lang=zh" in page.locator("#ov-chart").get_attribute("src")  # type: ignore[operator]
    assert "成功" in chart["svg"] and "次" in chart["alt"]
    durations = durations_of(page)
    assert "中位数（实线）" in durations["svg"] and "时间为" in durations["svg"]
    expect(page.locator("#ov-durations-h")).to_have_text("最近 24 小时各任务耗时的百分位数")
    page.get_by_label("语言").select_option("en")


def test_duration_percentiles_of_the_jobs_that_took_longest_over_the_range_chosen(
    admin_page: Page, history: dict[str, str]
) -> None:
    page = admin_page
    page.goto("/")
    expect(page.locator("#ov-durations-h")).to_have_text(
        "Duration percentiles per job over the last 24 hours"
    )
    expect(page.locator("#ov-durations-note")).to_contain_text("took the most time in all")
    chart = durations_of(page)
    assert chart["width"] > 0 and chart["height"] > 0
    assert chart["type"].startswith("image/svg+xml")
    series = {(job, name): int(n) for job, name, n in SERIES.findall(chart["svg"])}
    # `report` succeeded in this hour: one point on each of its lines; `flaky` only failed.
    assert series[("report", "p50")] >= 1 and series[("report", "p90")] >= 1, chart["svg"][:800]
    assert all(job != "flaky" for job, _ in series)
    assert 1 <= len({job for job, _ in series}) <= 5
    assert "report" in chart["alt"]
    assert "jobs=5" in page.locator("#ov-durations").get_attribute("src")  # type: ignore[operator]

    page.get_by_label("Charts over").select_option("7d")
    expect(page).to_have_url(re.compile(r"/\?range=7d$"))
    expect(page.locator("#ov-chart-h")).to_have_text("Runs per hour over the last 7 days")
    expect(page.locator("#ov-durations-h")).to_contain_text("the last 7 days")
    week = durations_of(page)
    since = re.search(r"since=([^&]+)", page.locator("#ov-durations").get_attribute("src") or "")
    assert since is not None
    assert ("report", "p50") in {(job, name) for job, name, _ in SERIES.findall(week["svg"])}
    # Seven days of hours: the time axis labels days as well.
    assert re.search(r">\d\d-\d\d \d\d:\d\d<", week["svg"])
    hours = chart_of(page)["svg"]
    assert re.search(r">\d\d-\d\d \d\d:\d\d<", hours)
    page.reload()
    expect(page.get_by_label("Charts over")).to_have_value("7d")
    expect(page.locator("#ov-durations-h")).to_contain_text("the last 7 days")


def test_the_duration_chart_on_a_phone_scrolls_sideways_at_a_legible_width(
    admin_page: Page, history: dict[str, str]
) -> None:
    page = admin_page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto("/")
        durations_of(page)
        box = page.locator("#ov-durations").bounding_box()
        assert box is not None and box["width"] >= 540
        scroller = page.locator("#ov-durations-h ~ .chart-scroll")
        assert scroller.evaluate("(e) => e.scrollWidth > e.clientWidth")
        page_wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert page_wide <= 390  # the page itself does not scroll sideways
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})
