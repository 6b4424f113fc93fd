"""DateTrigger: fires once, at one instant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerSpec, TriggerType
from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.base import Trigger
from gnomon.triggers.timezones import (
    format_datetime,
    parse_datetime,
    resolve_timezone,
    stored_instant,
    stored_zone,
)

INPUT_KEYS = ("run_date",)
_SPEC_KEYS = frozenset({"type", "run_date", "timezone"})


class DateTrigger(Trigger):
    """Fires once at `run_date` (aware); `timezone` is how people see it."""

    type = TriggerType.DATE

    def __init__(self, run_date: datetime, timezone: ZoneInfo | str) -> None:
        if run_date.tzinfo is None:
            raise TriggerInvalid([Problem("run_date", "must be timezone-aware")])
        self.run_date = run_date.astimezone(UTC)
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else resolve_timezone(timezone)

    @classmethod
    def from_input(
        cls, values: Mapping[str, Any], timezone: ZoneInfo, now: datetime
    ) -> DateTrigger:
        """From the API / config key `run_date` (ISO 8601; a naive time is in `timezone`).

        Raises TriggerInvalid when it is missing, unreadable, or not after `now`.
        """
        raw = values.get("run_date")
        if raw is None:
            raise TriggerInvalid([Problem("run_date", "is required for a date trigger")])
        if not isinstance(raw, str):
            raise TriggerInvalid([Problem("run_date", f"must be an ISO 8601 string, not {raw!r}")])
        try:
            run_date = parse_datetime(raw, timezone)
        except ValueError as exc:
            raise TriggerInvalid([Problem("run_date", str(exc))]) from None
        if run_date <= now:
            shown = format_datetime(run_date, timezone)
            raise TriggerInvalid(
                [Problem("run_date", f"{shown} is in the past; choose a time after now")]
            )
        return cls(run_date, timezone)

    @classmethod
    def from_spec(cls, spec: TriggerSpec) -> DateTrigger:
        """Rebuild from :meth:`to_spec`'s form (a past run_date is fine here)."""
        unknown = [key for key in spec if key not in _SPEC_KEYS]
        if unknown:
            raise TriggerInvalid(Problem(key, "unknown key in a date trigger") for key in unknown)
        return cls(
            stored_instant(spec.get("run_date"), "run_date"), stored_zone(spec.get("timezone"))
        )

    def next_fire_time(self, after: datetime) -> datetime | None:
        return self.run_date if self.run_date > after else None

    def to_spec(self) -> TriggerSpec:
        return {
            "type": self.type.value,
            "run_date": format_datetime(self.run_date, self.timezone),
            "timezone": self.timezone.key,
        }

    def trigger_args(self) -> dict[str, Any]:
        return {"run_date": format_datetime(self.run_date, self.timezone)}

    def describe(self, lang: str = "en") -> str:
        local = self.run_date.astimezone(self.timezone)
        shown = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
        return f"仅一次，在 {shown}" if lang.lower().startswith("zh") else f"Once, at {shown}"

    def summary(self) -> str:
        return f"date[{format_datetime(self.run_date, self.timezone)}] {self.timezone.key}"
