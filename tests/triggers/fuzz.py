"""Hypothesis strategies for hostile trigger input: cron text from a grammar of plausible and
hostile tokens, interval and date arguments, timezones (DST zones among them), JSON values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import strategies as st

from gnomon.triggers.cron.expression import FIELD_KEYS, MACROS

T = TypeVar("T")

#: Zones with DST of every shape: the usual hour, Lord Howe's half hour, Troll's two hours,
#: Dublin's negative DST, Casablanca's Ramadan pauses, Apia's skipped day, the ends of the
#: offsets (+14, -12) and a few without DST.
ZONES = (
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Nuuk",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Moscow",
    "Africa/Casablanca",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
)
HOSTILE_ZONES = ("", " UTC", "utc", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime")
HOSTILE_TEXT = ("\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "💥", "５", "٣", "²", "ⅻ")

NUMBERS = st.sampled_from(
    [
        *("0", "1", "2", "5", "7", "8", "12", "13", "23", "24", "29", "30", "31", "32", "59"),
        *("60", "99", "1969", "1970", "2025", "2199", "2200", "9999", "0007", "9" * 30, "-1"),
        "+3",
    ]
) | st.integers(0, 2300).map(str)
NAMES = st.sampled_from(
    ["mon", "FRI", "Sun", "sat", "jan", "DEC", "Feb", "monday", "thurs", "l", "w", "last"]
)
WORD_FORMS = st.sampled_from(["last fri", "1st mon", "2nd FRI", "5th sun", "6th mon", "last"])
SPECIALS = st.sampled_from(
    [
        *("*", "?", "L", "LW", "WL", "W", "L-3", "L-0", "L-31", "L-3W", "15W", "31W", "0W", "5L"),
        *("8L", "5#3", "5#0", "5#6", "fri#5", "#", "/", "-", "*/0", "*/1000", "*/", "/5", "1-"),
        *("-5", "5--6", "1/2/3", "1-5/2-3", "22-2", "fri-mon", "fri-sun", "jan-dec/2", "?/2"),
        "L/2",
    ]
) | st.sampled_from(HOSTILE_TEXT)


#: Each field of a 7-field expression: its range and the names and specials it takes.
FIELDS = (
    (0, 59, ()),
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ("?", "L", "LW", "L-3", "15W", "1W", "last", "1,15,L")),
    (1, 12, ("jan", "DEC", "jun-aug", "feb,Nov")),
    (0, 7, ("?", "mon-fri", "SAT,sun", "5L", "1#1", "fri#5", "last fri", "2nd mon", "0-7")),
    (1970, 2199, ("2026", "2025-2030", "2199", "*/4")),
)


def plausible_items(low: int, high: int, extra: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Items a user would write for a field: values, ranges and steps in range, its names."""
    value = st.integers(low, high)
    return st.one_of(
        value.map(str),
        st.tuples(value, value).map(lambda t: f"{min(t)}-{max(t)}"),
        st.tuples(st.sampled_from(["*", str(low)]), st.integers(1, high - low + 1)).map(
            lambda t: f"{t[0]}/{t[1]}"
        ),
        st.sampled_from(extra or ("*/5",)),
    )


#: Items no field takes, or that only look right: out of range, malformed, hostile text.
HOSTILE_ITEMS = st.one_of(NUMBERS, NAMES, WORD_FORMS, SPECIALS, st.text(max_size=4))
PLAUSIBLE = tuple(plausible_items(*field) for field in FIELDS)


@st.composite
def cron_fields(draw: st.DrawFn, position: int = 0) -> str:
    """Field `position` of a 7-field expression: mostly `*` or plausible items, one field in
    ten with a hostile item, and now and then a list at or past the item limit."""
    shape = draw(st.integers(0, 39))
    if shape == 0:
        return ",".join([draw(PLAUSIBLE[position])] * draw(st.integers(60, 70)))
    if shape < 5:
        items = draw(st.lists(PLAUSIBLE[position], max_size=2))
        items.insert(draw(st.integers(0, len(items))), draw(HOSTILE_ITEMS))
        return ",".join(items)
    if shape < 20:
        return "*"
    return ",".join(draw(st.lists(PLAUSIBLE[position], min_size=1, max_size=3)))


SEPARATORS = st.sampled_from([" "] * 20 + ["  ", "\t", "\n", "\u00a0", "\u2003", ""])


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    """5-7 fields most of the time (4 or 8 sometimes), a macro, or a long list of specials."""
    shape = draw(st.integers(0, 30))
    if shape == 0:
        return draw(st.sampled_from([*MACROS, "@", "@every 5m", "@DAILY", " @hourly ", "@reboot"]))
    if shape == 1:
        return "0 0 * * " + ",".join(["5#5"] * draw(st.integers(40, 100)))
    count = draw(st.sampled_from([4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8]))
    # 5 fields start at the minute, 6 at the second; 7 and the odd counts use every position.
    first = 1 if count == 5 else 0
    positions = [min(first + i, 6) for i in range(count)]
    text = draw(cron_fields(positions[0]))
    for position in positions[1:]:
        text += draw(SEPARATORS) + draw(cron_fields(position))
    return text


#: Values of the wrong type, at the ends of their types, or hostile as text.
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([-1, 2**31, 2**63, 10**30, -(10**30), 1_000_000, 1_000_001]),
    st.floats(),  # json.loads reads NaN and Infinity too
    st.sampled_from(HOSTILE_TEXT),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def mostly(good: st.SearchStrategy[T], bad: st.SearchStrategy[T], one_in: int = 10) -> Any:
    """`good`, and `bad` one time in `one_in` (sampled_from is not biased to its ends, as
    integers() is, so the ratio holds)."""
    return st.sampled_from([True] + [False] * (one_in - 1)).flatmap(
        lambda hostile: bad if hostile else good
    )


@st.composite
def separate_cron_fields(draw: st.DrawFn) -> dict[str, object]:
    """Some of the `cron_*` / `year` keys, each a field text, an int or a wrong value."""
    keys = draw(st.lists(st.sampled_from(FIELD_KEYS), unique=True, max_size=4))
    values = {}
    for key in keys:
        position = FIELD_KEYS.index(key)
        low, high, _ = FIELDS[position]
        good = st.one_of(cron_fields(position), st.integers(low, high))
        values[key] = draw(mostly(good, st.one_of(st.integers(-5, 2300), WRONG_VALUES)))
    return values


ODD_INSTANTS = st.sampled_from(
    [
        *("", " ", "now", "0001-01-01", "9999-12-31T23:59:59.999999-23:59", "2026-02-30"),
        *("2026-W01-1", "2026-001", "20261130T010000Z", "2026-11-30T24:00:00", "2026-13-01"),
        *("1969-12-31T23:59:59+00:00", "2200-01-01T00:00:00+14:00", "2199-12-31T23:59:59-12:00"),
        *("2026-03-08T02:30:00", "2026-11-01T01:30:00", "2026-11-30T01:00:00\x00"),
    ]
)
TIMESPECS = ["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"]


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    """ISO 8601 text of instants around the years gnomon schedules in, spelled in many ways;
    one in ten is an odd or far instant, or junk."""
    odd = st.one_of(
        ODD_INSTANTS,
        st.text(max_size=30),
        st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)).map(datetime.isoformat),
    )
    if draw(mostly(st.just(False), st.just(True))):
        return draw(odd)
    moment = draw(st.datetimes(datetime(1960, 1, 1), datetime(2210, 1, 1)))
    spelling = draw(st.sampled_from(range(4)))
    if spelling == 0:
        return moment.date().isoformat()
    if spelling == 1:
        return moment.isoformat()
    if spelling == 2:
        return moment.isoformat() + "Z"
    minutes = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    offset = timezone(timedelta(minutes=minutes))
    return moment.replace(tzinfo=offset).isoformat(timespec=draw(st.sampled_from(TIMESPECS)))


TIMEZONES = mostly(
    st.sampled_from(ZONES) | st.none(), st.one_of(st.sampled_from(HOSTILE_ZONES), WRONG_VALUES)
)
UNIT_VALUES = mostly(
    st.integers(0, 3) | st.integers(0, 1_000_000), st.integers(-(2**64), 2**64) | WRONG_VALUES
)
#: Instants parsing is measured from: 1970 to the last year triggers fire in.
NOWS = st.datetimes(datetime(1970, 1, 1), datetime(2199, 12, 31, 23), timezones=st.just(UTC))

JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def cron_inputs(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {"trigger_type": "cron"}
    shape = draw(st.sampled_from(["expression"] * 3 + ["fields", "both"]))
    if shape != "fields":
        data["cron_expression"] = draw(cron_expressions())
    if shape != "expression":
        data.update(draw(separate_cron_fields()))
    return data


@st.composite
def interval_inputs(draw: st.DrawFn) -> dict[str, object]:
    units = ("weeks", "days", "hours", "minutes", "seconds")
    data: dict[str, object] = {"trigger_type": "interval"}
    for unit in draw(st.lists(st.sampled_from(units), unique=True, min_size=1, max_size=5)):
        data[unit] = draw(UNIT_VALUES)
    if draw(st.booleans()):
        data["start_date"] = draw(mostly(iso_texts(), WRONG_VALUES))
    if draw(mostly(st.just(False), st.just(True), one_in=4)):
        data["jitter"] = draw(UNIT_VALUES)
    return data


@st.composite
def date_inputs(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {"trigger_type": "date"}
    data["run_date"] = draw(mostly(iso_texts(), WRONG_VALUES))
    return data


TRIGGER_TYPES = st.sampled_from(["CRON", "", "Date", "interval ", "other"]) | WRONG_VALUES


@st.composite
def trigger_inputs(draw: st.DrawFn) -> dict[str, object]:
    """A PUT body: one type's keys, usually a timezone; one in ten has a bad trigger_type,
    keys of another type or an unknown key."""
    data = draw(st.one_of(cron_inputs(), interval_inputs(), date_inputs()))
    if draw(st.sampled_from([True, True, False])):
        data["timezone"] = draw(TIMEZONES)
    change = draw(mostly(st.none(), st.sampled_from(["type", "mix", "unknown"])))
    if change == "type":
        data["trigger_type"] = draw(TRIGGER_TYPES)
    elif change == "mix":
        extra = draw(st.one_of(cron_inputs(), interval_inputs(), date_inputs()))
        extra.pop("trigger_type")
        data.update(extra)
    elif change == "unknown":
        data[draw(st.text(max_size=8))] = draw(JSON)
    return data


@st.composite
def stored_specs(draw: st.DrawFn) -> dict[str, object]:
    """What a damaged or hand-edited row of the jobs table could hold as a trigger spec."""
    keys = {
        "expression": st.one_of(cron_expressions(), WRONG_VALUES),
        "timezone": TIMEZONES,
        "run_date": st.one_of(iso_texts(), WRONG_VALUES),
        "start_date": st.one_of(iso_texts(), WRONG_VALUES),
        "hours": UNIT_VALUES,
        "seconds": UNIT_VALUES,
        "jitter": UNIT_VALUES,
        "other": JSON,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True, max_size=5))
    spec = {key: draw(keys[key]) for key in chosen}
    spec["type"] = draw(st.sampled_from(["cron", "interval", "date", "Cron", ""]) | WRONG_VALUES)
    return spec
