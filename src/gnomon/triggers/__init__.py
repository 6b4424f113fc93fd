"""Triggers: when jobs fire. Cron, interval and date triggers, pure functions of `now`."""

from gnomon.triggers.base import Trigger
from gnomon.triggers.cron import CronTrigger
from gnomon.triggers.date import DateTrigger
from gnomon.triggers.interval import IntervalTrigger
from gnomon.triggers.parse import cache_trigger, load_trigger, parse_trigger
from gnomon.triggers.timezones import resolve_timezone

__all__ = [
    "CronTrigger",
    "DateTrigger",
    "IntervalTrigger",
    "Trigger",
    "cache_trigger",
    "load_trigger",
    "parse_trigger",
    "resolve_timezone",
]
