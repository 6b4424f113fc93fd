"""The words cron descriptions are made of, in English and Simplified Chinese."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Words:
    """One language's phrases; ``{}`` marks where a value or a list of values goes."""

    sep: str  # between the parts of a description
    list_sep: str
    and_: str
    or_: str
    through: str
    at: str
    every: Mapping[str, str]  # unit → "every minute"
    every_n: Mapping[str, str]  # unit → "every {} minutes"
    from_through: str
    seconds_past: str
    minutes_past: str
    hours_between: str
    day_of_month: str
    last_day: str
    before_last_day: str
    nearest_weekday: str
    last_weekday: str
    last_of: str
    nth_of: str
    only_on: str
    on: str
    only_in: str
    year: str
    weekdays: Sequence[str]  # Sunday first
    months: Sequence[str]  # January first
    ordinals: Sequence[str]  # first to fifth

    def join(self, pieces: Sequence[str]) -> str:
        """``a, b and c`` / ``a、b 和 c``."""
        if len(pieces) <= 1:
            return "".join(pieces)
        return self.list_sep.join(pieces[:-1]) + self.and_ + pieces[-1]

    def every_unit(self, unit: str, n: int) -> str:
        return self.every[unit] if n == 1 else self.every_n[unit].format(n)


_UNITS = ("second", "minute", "hour", "day", "month", "year")

ENGLISH = Words(
    sep=", ",
    list_sep=", ",
    and_=" and ",
    or_=", or ",
    through="{} through {}",
    at="At {}",
    every={unit: f"every {unit}" for unit in _UNITS},
    every_n={unit: f"every {{}} {unit}s" for unit in _UNITS},
    from_through="{} from {} through {}",
    seconds_past="at {} seconds past the minute",
    minutes_past="at {} minutes past the hour",
    hours_between="between {}:00 and {}:59",
    day_of_month="on day {} of the month",
    last_day="on the last day of the month",
    before_last_day="{} days before the last day of the month",
    nearest_weekday="on the weekday nearest day {} of the month",
    last_weekday="on the last weekday of the month",
    last_of="on the last {} of the month",
    nth_of="on the {} {} of the month",
    only_on="only on {}",
    on="on {}",
    only_in="only in {}",
    year="{}",
    weekdays=("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    ordinals=("first", "second", "third", "fourth", "fifth"),
)

_ZH_UNITS = {
    "second": "秒",
    "minute": "分钟",
    "hour": "小时",
    "day": "天",
    "month": "个月",
    "year": "年",
}

CHINESE = Words(
    sep="，",
    list_sep="、",
    and_="、",
    or_="，或",
    through="{}至{}",
    at="在 {}",
    every={unit: "每" + word.removeprefix("个") for unit, word in _ZH_UNITS.items()},
    every_n={unit: f"每 {{}} {word}" for unit, word in _ZH_UNITS.items()},
    from_through="{}，从 {} 到 {}",
    seconds_past="在每分钟的第 {} 秒",
    minutes_past="在每小时的第 {} 分钟",
    hours_between="在 {}:00 至 {}:59 之间",
    day_of_month="在每月的第 {} 天",
    last_day="在每月的最后一天",
    before_last_day="在每月最后一天的前 {} 天",
    nearest_weekday="在每月离 {} 日最近的工作日",
    last_weekday="在每月的最后一个工作日",
    last_of="在每月的最后一个{}",
    nth_of="在每月的第{}个{}",
    only_on="仅{}",
    on="在{}",
    only_in="仅在{}",
    year="{}年",
    weekdays=("星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"),
    months=(
        "一月",
        "二月",
        "三月",
        "四月",
        "五月",
        "六月",
        "七月",
        "八月",
        "九月",
        "十月",
        "十一月",
        "十二月",
    ),
    ordinals=("一", "二", "三", "四", "五"),
)

LANGUAGES: Mapping[str, Words] = {"en": ENGLISH, "zh": CHINESE}


def words_for(lang: str) -> Words:
    """The words for `lang` ("en", "zh", also "zh-CN" and the like); English otherwise."""
    return LANGUAGES.get(lang.lower().split("-")[0].split("_")[0], ENGLISH)
