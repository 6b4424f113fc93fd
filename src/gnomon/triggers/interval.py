"""IntervalTrigger: fires every fixed span of elapsed time from an anchor, ignoring DST."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerSpec, TriggerType
from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.base import Trigger
from gnomon.triggers.timezones import (
    END_INSTANT,
    format_datetime,
    parse_datetime,
    resolve_timezone,
    stored_instant,
    stored_zone,
)

UNITS = ("weeks", "days", "hours", "minutes", "seconds")
INPUT_KEYS = (*UNITS, "start_date", "jitter")
_LIMIT = 1_000_000  # per unit; keeps every sum inside what datetime can count
_ENGLISH_UNITS = {
    "weeks": "week",
    "days": "day",
    "hours": "hour",
    "minutes": "minute",
    "seconds": "second",
}
_CHINESE_UNITS = {"weeks": "周", "days": "天", "hours": "小时", "minutes": "分钟", "seconds": "秒"}
_CHINESE_JITTER = "，随机延迟最多 {} 秒"


def whole_number(value: object, key: str, problems: list[Problem]) -> int | None:
    """`value` when it is a JSON integer 0..1,000,000 (not a bool); else a problem on `key`."""
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(key, f"must be a whole number, not {value!r}"))
        return None
    if not 0 <= value <= _LIMIT:
        problems.append(Problem(key, f"must be between 0 and {_LIMIT}, not {value}"))
        return None
    return value


class IntervalTrigger(Trigger):
    """Fires at `start_date` + k * the interval (k >= 0), on elapsed time: DST does not move it.

    `jitter` (seconds) is kept for the scheduler, which adds a random delay up to it; fire times
    here are the nominal ones. Raises TriggerInvalid when no unit is positive.
    """

    type = TriggerType.INTERVAL

    def __init__(
        self,
        *,
        start_date: datetime,
        timezone: ZoneInfo | str,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: int = 0,
        jitter: int | None = None,
    ) -> None:
        problems: list[Problem] = []
        amounts = dict(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        for key, value in amounts.items():
            whole_number(value, key, problems)
        if jitter is not None:
            whole_number(jitter, "jitter", problems)
        if not problems and not any(amounts.values()):
            problems.append(
                Problem(
                    "seconds",
                    "at least one of weeks, days, hours, minutes, seconds must be positive",
                )
            )
        if start_date.tzinfo is None:
            problems.append(Problem("start_date", "must be timezone-aware"))
        if problems:
            raise TriggerInvalid(problems)
        self.amounts = amounts
        self.period = timedelta(**amounts)
        self.start_date = start_date.astimezone(UTC)
        self.jitter = jitter
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else resolve_timezone(timezone)

    @classmethod
    def from_input(
        cls, values: Mapping[str, Any], timezone: ZoneInfo, now: datetime
    ) -> IntervalTrigger:
        """From API / config keys (weeks … seconds, start_date, jitter); the anchor defaults to
        `now`, to the whole second, so the phase survives restarts once stored."""
        problems: list[Problem] = []
        amounts = {key: whole_number(values.get(key, 0), key, problems) for key in UNITS}
        jitter = values.get("jitter")
        if jitter is not None:
            jitter = whole_number(jitter, "jitter", problems)
        start = now.replace(microsecond=0)
        raw_start = values.get("start_date")
        if raw_start is not None:
            if not isinstance(raw_start, str):
                problems.append(
                    Problem("start_date", f"must be an ISO 8601 string, not {raw_start!r}")
                )
            else:
                try:
                    start = parse_datetime(raw_start, timezone)
                except ValueError as exc:
                    problems.append(Problem("start_date", str(exc)))
        if problems:
            raise TriggerInvalid(problems)
        counts = {key: value or 0 for key, value in amounts.items()}
        return cls(start_date=start, timezone=timezone, jitter=jitter, **counts)

    @classmethod
    def from_spec(cls, spec: TriggerSpec) -> IntervalTrigger:
        """Rebuild from :meth:`to_spec`'s form. Raises TriggerInvalid on anything else."""
        expected = {"type", *INPUT_KEYS, "timezone"}
        problems = [
            Problem(key, "unknown key in an interval trigger")
            for key in spec
            if key not in expected
        ]
        counts = {key: whole_number(spec.get(key), key, problems) or 0 for key in UNITS}
        jitter = spec.get("jitter")
        if jitter is not None:
            whole_number(jitter, "jitter", problems)
        if problems:
            raise TriggerInvalid(problems)
        return cls(
            start_date=stored_instant(spec.get("start_date"), "start_date"),
            timezone=stored_zone(spec.get("timezone")),
            jitter=jitter,
            **counts,
        )

    def next_fire_time(self, after: datetime) -> datetime | None:
        if after < self.start_date:
            return self.start_date
        elapsed = (after - self.start_date) // self.period
        try:
            found = self.start_date + (elapsed + 1) * self.period
        except OverflowError:
            return None
        # No fire time past the years gnomon schedules in, as for cron.
        return found if found < END_INSTANT else None

    def to_spec(self) -> TriggerSpec:
        return {
            "type": self.type.value,
            **self.amounts,
            "start_date": self.start_date.isoformat(),
            "jitter": self.jitter,
            "timezone": self.timezone.key,
        }

    def trigger_args(self) -> dict[str, Any]:
        return {
            **self.amounts,
            "start_date": format_datetime(self.start_date, self.timezone),
            "jitter": self.jitter,
        }

    def describe(self, lang: str = "en") -> str:
        used = [(unit, count) for unit, count in self.amounts.items() if count]
        if lang.lower().startswith("zh"):
            text = "每 " + " ".join(f"{count} {_CHINESE_UNITS[unit]}" for unit, count in used)
            return text + (_CHINESE_JITTER.format(self.jitter) if self.jitter else "")
        pieces = [f"{count} {_ENGLISH_UNITS[unit]}{'s' * (count != 1)}" for unit, count in used]
        if len(used) == 1 and used[0][1] == 1:
            text = f"Every {_ENGLISH_UNITS[used[0][0]]}"
        else:
            text = (
                "Every "
                + ", ".join(pieces[:-1])
                + (" and " if len(pieces) > 1 else "")
                + pieces[-1]
            )
        return text + (f", with a random delay of up to {self.jitter} s" if self.jitter else "")

    def summary(self) -> str:
        return f"interval[{self.period}] {self.timezone.key}"
