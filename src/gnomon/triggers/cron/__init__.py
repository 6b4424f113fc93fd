"""Cron triggers: the expression dialect of SPEC §2.1, its next fire times and its descriptions."""

from gnomon.triggers.cron.trigger import CronTrigger

__all__ = ["CronTrigger"]
