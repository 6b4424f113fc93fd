"""The Trigger contract: a pure function from an instant to the next fire time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerSpec, TriggerType


class Trigger(ABC):
    """When a job fires. Instances are immutable; every method is a pure function of its arguments.

    All datetimes going in and out are timezone-aware; results are in UTC.
    """

    type: TriggerType
    timezone: ZoneInfo

    @abstractmethod
    def next_fire_time(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None when there is none."""

    def fires_at(self, when: datetime) -> bool:
        """Whether `when` is one of this trigger's fire times (a fire claimed under an earlier
        trigger may not be)."""
        return self.next_fire_time(when - timedelta(microseconds=1)) == when

    @abstractmethod
    def to_spec(self) -> TriggerSpec:
        """The readable JSON form stored in the database; `load_trigger` rebuilds it."""

    @abstractmethod
    def trigger_args(self) -> dict[str, Any]:
        """The API's `trigger_args`: cron's seven fields, interval's keys, or date's `run_date`."""

    @abstractmethod
    def describe(self, lang: str = "en") -> str:
        """Human words for the trigger ("At 02:30, Monday through Friday"); lang is "en" or "zh"."""

    @abstractmethod
    def summary(self) -> str:
        """One-line text, e.g. ``cron[0 30 2 * * mon-fri *] Asia/Shanghai``."""

    def preview(self, after: datetime, count: int) -> list[datetime]:
        """The next `count` fire times strictly after `after` (fewer when the trigger ends)."""
        times: list[datetime] = []
        current = after
        while len(times) < count:
            nxt = self.next_fire_time(current)
            if nxt is None:
                break
            times.append(nxt)
            current = nxt
        return times

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trigger) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_spec().items())))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary()}>"
