"""CronTrigger: fires on the wall-clock times a cron expression names, in one timezone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gnomon.domain import TriggerSpec, TriggerType
from gnomon.errors import Problem, TriggerInvalid
from gnomon.triggers.base import Trigger
from gnomon.triggers.cron.describe import describe_fields
from gnomon.triggers.cron.expression import EXPRESSION_KEY, FIELD_KEYS, CronFields, build_fields
from gnomon.triggers.cron.fields import SPECS
from gnomon.triggers.cron.schedule import CronSchedule
from gnomon.triggers.timezones import format_datetime, resolve_timezone

_SPEC_KEYS = frozenset({"type", "expression", "timezone"})


class CronTrigger(Trigger):
    """Fires at the times a cron expression names, on wall-clock time in `timezone`.

    ``CronTrigger("0 30 2 * * mon-fri", "Asia/Shanghai")``. The expression has 5, 6 or 7 fields
    or is a macro (SPEC §2.1); `expression` holds its normalised 7-field text. When both
    day-of-month and day-of-week are restricted (neither starts with ``*`` nor is ``?``), a day
    matching either fires, as in Vixie cron. Across DST, see CronSchedule. Raises TriggerInvalid
    when the expression is malformed or can never fire.
    """

    type = TriggerType.CRON

    def __init__(self, expression: str, timezone: ZoneInfo | str) -> None:
        self._setup(build_fields(expression, {}), _zone(timezone), EXPRESSION_KEY)

    @classmethod
    def from_fields(
        cls,
        parts: Mapping[str, str],
        timezone: ZoneInfo | str,
        *,
        expression: str | None = None,
    ) -> CronTrigger:
        """From the separate fields (``cron_hour`` …, ``year``), each overriding its part of
        `expression` when one is given. Raises TriggerInvalid naming the input keys at fault."""
        fields = build_fields(expression, parts)
        given = [key for key in reversed(FIELD_KEYS) if key in parts]
        blame = EXPRESSION_KEY if expression is not None or not given else given[0]
        trigger = cls.__new__(cls)
        trigger._setup(fields, _zone(timezone), blame)
        return trigger

    @classmethod
    def from_input(
        cls, values: Mapping[str, Any], timezone: ZoneInfo, now: datetime
    ) -> CronTrigger:
        """From API / config keys: `cron_expression` and/or the separate fields, as strings (ints
        count as their text). Raises TriggerInvalid naming each key at fault, and when the
        trigger has no fire time after `now`."""
        problems: list[Problem] = []
        texts: dict[str, str] = {}
        for key, value in values.items():
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                texts[key] = str(value)
            else:
                problems.append(Problem(key, f"must be a string, not {value!r}"))
        expression = texts.pop(EXPRESSION_KEY, None)
        if not problems and expression is None and not texts:
            message = "is required: give an expression or separate cron_* fields"
            problems.append(Problem(EXPRESSION_KEY, message))
        try:
            trigger = cls.from_fields(texts, timezone, expression=expression)
        except TriggerInvalid as exc:
            problems += exc.problems
        if problems:
            raise TriggerInvalid(problems)
        if trigger.next_fire_time(now) is None:
            blame = EXPRESSION_KEY if expression is not None else "year"
            shown = format_datetime(now, timezone)
            message = f"{trigger.expression!r} never fires: no matching time after {shown}"
            raise TriggerInvalid([Problem(blame, message)])
        return trigger

    @classmethod
    def from_spec(cls, spec: TriggerSpec) -> CronTrigger:
        """Rebuild from :meth:`to_spec`'s form. Raises TriggerInvalid on anything else."""
        problems = [
            Problem(key, "unknown key in a cron trigger") for key in spec if key not in _SPEC_KEYS
        ]
        for key in ("expression", "timezone"):
            if not isinstance(spec.get(key), str):
                problems.append(Problem(key, "is required and must be a string"))
        if problems:
            raise TriggerInvalid(problems)
        return cls(spec["expression"], resolve_timezone(spec["timezone"]))

    def _setup(self, fields: CronFields, timezone: ZoneInfo, blame: str) -> None:
        self.fields = fields
        self.expression = fields.expression
        self.timezone = timezone
        self._schedule = CronSchedule(fields, timezone)
        if not self._schedule.can_fire():
            raise TriggerInvalid(
                [
                    Problem(
                        blame,
                        f"{self.expression!r} never fires: no date matches its day-of-month, "
                        "day-of-week, month and year fields together",
                    )
                ]
            )

    def next_fire_time(self, after: datetime) -> datetime | None:
        if after.tzinfo is None:
            raise ValueError("next_fire_time needs a timezone-aware datetime")
        return self._schedule.next_after(after)

    def to_spec(self) -> TriggerSpec:
        return {
            "type": self.type.value,
            "expression": self.expression,
            "timezone": self.timezone.key,
        }

    def trigger_args(self) -> dict[str, Any]:
        return {spec.key: field.text for spec, field in zip(SPECS, self.fields, strict=True)}

    def describe(self, lang: str = "en") -> str:
        return describe_fields(self.fields, lang)

    def summary(self) -> str:
        return f"cron[{self.expression}] {self.timezone.key}"


def _zone(timezone: ZoneInfo | str) -> ZoneInfo:
    return timezone if isinstance(timezone, ZoneInfo) else resolve_timezone(timezone)
