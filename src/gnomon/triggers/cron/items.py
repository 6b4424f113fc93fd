"""The items a cron field is a comma list of: spans of values and the L / W / # specials."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A number, a range or a stepped range; ``*`` is the whole field; `text` keeps the spelling."""

    start: int
    stop: int
    step: int
    text: str

    def values(self) -> range:
        return range(self.start, self.stop + 1, self.step)

    @property
    def is_single(self) -> bool:
        return self.start == self.stop


@dataclass(frozen=True)
class LastDay:
    """Day-of-month ``L`` (offset 0) or ``L-n``: n days before the last day of the month."""

    offset: int

    @property
    def text(self) -> str:
        return f"L-{self.offset}" if self.offset else "L"


@dataclass(frozen=True)
class NearestWeekday:
    """Day-of-month ``nW``: the weekday nearest day n, without leaving the month."""

    day: int

    @property
    def text(self) -> str:
        return f"{self.day}W"


@dataclass(frozen=True)
class LastWeekday:
    """Day-of-month ``LW``: the last weekday (Monday to Friday) of the month."""

    @property
    def text(self) -> str:
        return "LW"


@dataclass(frozen=True)
class LastOf:
    """Day-of-week ``dL``: the last weekday d of the month (`weekday` 0-6, Sunday 0)."""

    weekday: int
    spelled: str  # the weekday as written: "5", "7" or "fri"

    @property
    def text(self) -> str:
        return f"{self.spelled}L"


@dataclass(frozen=True)
class NthOf:
    """Day-of-week ``d#n``: the n-th weekday d of the month (`weekday` 0-6, Sunday 0)."""

    weekday: int
    nth: int
    spelled: str

    @property
    def text(self) -> str:
        return f"{self.spelled}#{self.nth}"


Item = Span | LastDay | NearestWeekday | LastWeekday | LastOf | NthOf
