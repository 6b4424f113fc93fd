"""Screenshots of the console's main pages at desktop and phone widths, into screenshots/.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts the same real server process the browser tests use (tests/web/serve_console.py on a
temporary store), logs in as admin with Debian's chromium, runs one job so that the history and
run pages have content, and saves login, overview, jobs, job (with the trigger editor), run
and runs pages; and the job page's activity (rates, timeline, duration trend), users, API tokens
(a new token's secret shown) and the audit log, in English and Chinese at both widths.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.web.server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORDS,
    start_console_server,
)

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CHINESE = "localStorage.setItem('gnomon.language', 'zh')"


def shoot(page: Page, out: Path, name: str, size: str) -> None:
    path = out / f"{name}-{size}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def run_once(page: Page) -> str:
    """Start a manual run of `backup` and return its run page's path once it has finished."""
    page.goto("/jobs/backup")
    page.get_by_role("button", name="Run now").click()
    page.locator("#confirm-ok").click()
    link = page.locator("#notice-run-link")
    href = link.get_attribute("href")
    assert href is not None
    page.goto(href)
    expect(page.locator("#run-details [data-status=succeeded]")).to_be_visible(timeout=15_000)
    return href


def shoot_new_pages(page: Page, out: Path, suffix: str, size: str) -> None:
    """The job activity card and the administration pages; `suffix` names the language."""
    page.goto("/jobs/backup")
    expect(page.locator("#run-timeline .mark").first).to_be_visible()
    expect(page.locator("#duration-chart")).to_have_attribute("src", re.compile("^data:"))
    expect(page.locator("#job-audit-table tbody tr").first).to_be_visible()
    path = out / f"job-activity{suffix}-{size}.png"
    page.locator("#job-activity").screenshot(path=str(path))
    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    page.goto("/admin/users")
    expect(page.locator("#users-table tbody tr").first).to_be_visible()
    shoot(page, out, f"users{suffix}", size)
    page.goto("/admin/tokens")
    expect(page.locator("#token-user option").first).to_be_attached()
    page.locator("#token-name").fill(f"deploy-{size}{suffix}")
    page.locator("#token-days").fill("30")
    page.locator("#token-form button[type=submit]").click()
    expect(page.locator("#token-secret")).to_be_visible()
    expect(page.locator("#tokens-table tbody tr").first).to_be_visible()
    shoot(page, out, f"tokens{suffix}", size)
    page.goto("/admin/audit")
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    shoot(page, out, f"audit{suffix}", size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = start_console_server(Path(workdir))
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                run_path = ""
                for size, viewport in SIZES.items():
                    context = browser.new_context(base_url=server.url, viewport=viewport)
                    page = context.new_page()
                    page.goto("/login")
                    expect(page.locator("#login-form")).to_be_visible()
                    shoot(page, args.out, "login", size)
                    page.get_by_label("Username").fill("admin")
                    page.get_by_label("Password").fill(PASSWORDS["admin"])
                    page.get_by_role("button", name="Log in").click()
                    expect(page.locator("#ov-scheduler-state")).to_be_visible()
                    run_path = run_path or run_once(page)
                    page.goto("/")
                    expect(page.locator("#ov-next tbody tr").first).to_be_visible()
                    expect(page.locator("#ov-chart")).to_have_attribute("src", re.compile("svg"))
                    page.wait_for_load_state("networkidle")
                    shoot(page, args.out, "overview", size)
                    page.goto("/jobs")
                    expect(page.locator("#jobs-table tbody tr").first).to_be_visible()
                    shoot(page, args.out, "jobs", size)
                    page.goto("/jobs/report")
                    expect(page.locator("#trigger-form[data-ready]")).to_be_attached()
                    page.get_by_label("Cron expression").fill("0 */15 9-17 * * mon-fri")
                    expect(page.locator("#preview-status")).to_have_text(
                        "Valid. Save to apply this trigger."
                    )
                    shoot(page, args.out, "job", size)
                    page.goto("/jobs/backup")
                    expect(page.locator("#trigger-form[data-ready]")).to_be_attached()
                    expect(page.locator("#runs-table tbody tr").first).to_be_visible()
                    shoot(page, args.out, "job-history", size)
                    page.goto(run_path)
                    expect(page.locator("#run-output")).to_contain_text(re.compile("backup done"))
                    shoot(page, args.out, "run", size)
                    page.goto("/runs?status=succeeded,failed")
                    expect(page.locator("#all-runs-table tbody tr").first).to_be_visible()
                    shoot(page, args.out, "runs", size)
                    shoot_new_pages(page, args.out, "", size)
                    context.close()
                context = browser.new_context(base_url=server.url, viewport=SIZES["desktop"])
                context.add_init_script(CHINESE)
                page = context.new_page()
                page.goto("/login")
                page.locator("#username").fill("admin")
                page.locator("#password").fill(PASSWORDS["admin"])
                page.locator("#password").press("Enter")
                expect(page.locator("#ov-next tbody tr").first).to_be_visible()
                page.wait_for_load_state("networkidle")
                shoot(page, args.out, "overview-zh", "desktop")
                page.goto("/jobs")
                expect(page.locator("#jobs-table tbody tr").first).to_be_visible()
                shoot(page, args.out, "jobs-zh", "desktop")
                page.goto("/jobs/backup")
                expect(page.locator("#trigger-form[data-ready]")).to_be_attached()
                shoot(page, args.out, "job-zh", "desktop")
                page.goto("/runs")
                expect(page.locator("#all-runs-table tbody tr").first).to_be_visible()
                shoot(page, args.out, "runs-zh", "desktop")
                for size in SIZES:
                    page.set_viewport_size(SIZES[size])
                    shoot_new_pages(page, args.out, "-zh", size)
                context.close()
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
