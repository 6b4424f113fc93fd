"""Triggers in words, in English and Simplified Chinese."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gnomon.triggers import CronTrigger, DateTrigger, IntervalTrigger


@pytest.mark.parametrize(
    ("expression", "english", "chinese"),
    [
        ("0 30 2 * * mon-fri", "At 02:30, Monday through Friday", "在 02:30，星期一至星期五"),
        ("* * * * * *", "Every second", "每秒"),
        ("*/10 * * * * *", "Every 10 seconds", "每 10 秒"),
        ("* * * * *", "Every minute", "每分钟"),
        # A step of 1 is every value: said as `*` is, in any field.
        ("*/1 * * * *", "Every minute", "每分钟"),
        ("*/1 */1 * * * *", "Every second", "每秒"),
        ("0 */1 * * *", "Every hour", "每小时"),
        ("0 0 */1 */1 */1", "At 00:00", "在 00:00"),
        ("0 0 */1 * mon", "At 00:00, only on Monday", "在 00:00，仅星期一"),
        ("0 0 0 * * * */1", "At 00:00", "在 00:00"),
        ("*/5 * * * *", "Every 5 minutes", "每 5 分钟"),
        ("@hourly", "Every hour", "每小时"),
        ("0 */2 * * *", "Every 2 hours", "每 2 小时"),
        ("30 * * * *", "At 30 minutes past the hour", "在每小时的第 30 分钟"),
        ("15 30 2 * * *", "At 02:30:15", "在 02:30:15"),
        ("30 2,14 * * *", "At 02:30 and 14:30", "在 02:30、14:30"),
        (
            "*/5 9-17 * * *",
            "Every 5 minutes, between 09:00 and 17:59",
            "每 5 分钟，在 09:00 至 17:59 之间",
        ),
        ("0 0 L * *", "At 00:00, on the last day of the month", "在 00:00，在每月的最后一天"),
        (
            "0 0 L-3 * *",
            "At 00:00, 3 days before the last day of the month",
            "在 00:00，在每月最后一天的前 3 天",
        ),
        (
            "0 0 15W * *",
            "At 00:00, on the weekday nearest day 15 of the month",
            "在 00:00，在每月离 15 日最近的工作日",
        ),
        (
            "0 0 LW * *",
            "At 00:00, on the last weekday of the month",
            "在 00:00，在每月的最后一个工作日",
        ),
        (
            "0 18 * * last fri",
            "At 18:00, on the last Friday of the month",
            "在 18:00，在每月的最后一个星期五",
        ),
        (
            "0 9 * * 1#1",
            "At 09:00, on the first Monday of the month",
            "在 09:00，在每月的第一个星期一",
        ),
        (
            "0 0 13 * mon",
            "At 00:00, on day 13 of the month, or on Monday",
            "在 00:00，在每月的第 13 天，或在星期一",
        ),
        ("0 12 * * sun", "At 12:00, only on Sunday", "在 12:00，仅星期日"),
        (
            "0 0 12 1 1 * 2027",
            "At 12:00, on day 1 of the month, only in January, only in 2027",
            "在 12:00，在每月的第 1 天，仅在一月，仅在2027年",
        ),
        ("0 12 * jan-mar *", "At 12:00, January through March", "在 12:00，一月至三月"),
        (
            "0 12 1 */3 *",
            "At 12:00, on day 1 of the month, every 3 months",
            "在 12:00，在每月的第 1 天，每 3 个月",
        ),
    ],
)
def test_cron_descriptions(expression: str, english: str, chinese: str) -> None:
    trigger = CronTrigger(expression, "Asia/Shanghai")
    assert trigger.describe() == english
    assert trigger.describe("en") == english
    assert trigger.describe("zh") == chinese
    assert trigger.describe("zh-CN") == chinese


def test_unknown_languages_get_english() -> None:
    assert CronTrigger("@daily", "UTC").describe("fr") == "At 00:00"


def test_interval_descriptions() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert IntervalTrigger(seconds=2, start_date=start, timezone="UTC").describe() == (
        "Every 2 seconds"
    )
    assert IntervalTrigger(hours=1, start_date=start, timezone="UTC").describe() == "Every hour"
    both = IntervalTrigger(hours=1, minutes=30, jitter=5, start_date=start, timezone="UTC")
    assert both.describe() == "Every 1 hour and 30 minutes, with a random delay of up to 5 s"
    assert both.describe("zh") == "每 1 小时 30 分钟，随机延迟最多 5 秒"


def test_date_descriptions_use_the_trigger_timezone() -> None:
    trigger = DateTrigger(datetime(2026, 11, 29, 17, tzinfo=UTC), "Asia/Shanghai")
    assert trigger.describe() == "Once, at 2026-11-30 01:00"
    assert trigger.describe("zh") == "仅一次，在 2026-11-30 01:00"
