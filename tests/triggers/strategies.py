"""Hypothesis strategies for cron fields that carry their own meaning (see bruteforce.Choice)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.triggers.bruteforce import (
    Choice,
    cron_weekday,
    month_length,
    nearest_weekday,
    weekdays_of_month,
)

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _case(name: str, draw_case: bool) -> str:
    return name.upper() if draw_case else name


def spans(
    low: int, high: int, *, width: int, min_step: int = 1, top: int | None = None
) -> st.SearchStrategy[Choice]:
    """Numbers, short lists, ranges and steps from low..high in a field ending at `top`."""
    top = high if top is None else top
    value = st.integers(low, high)
    single = value.map(lambda v: Choice(str(v), frozenset({v})))
    listed = st.lists(value, min_size=2, max_size=3, unique=True).map(
        lambda vs: Choice(",".join(map(str, vs)), frozenset(vs))
    )
    ranged = st.tuples(value, st.integers(0, width)).map(
        lambda t: Choice(
            f"{t[0]}-{min(top, t[0] + t[1])}", frozenset(range(t[0], min(top, t[0] + t[1]) + 1))
        )
    )
    step = st.integers(max(min_step, 1), top + 1)
    # "*/n" starts at the field's first value, 0 for the time fields.
    star_step = step.map(lambda n: Choice(f"*/{n}", frozenset(range(0, top + 1, n))))
    start_step = st.tuples(value, step).map(
        lambda t: Choice(f"{t[0]}/{t[1]}", frozenset(range(t[0], top + 1, t[1])))
    )
    ranged_step = st.tuples(value, st.integers(1, width + 3), step).map(
        lambda t: Choice(
            f"{t[0]}-{min(top, t[0] + t[1])}/{t[2]}",
            frozenset(range(t[0], min(top, t[0] + t[1]) + 1, t[2])),
        )
    )
    return st.one_of(single, listed, ranged, star_step, start_step, ranged_step)


def every(low: int, high: int) -> st.SearchStrategy[Choice]:
    return st.just(Choice("*", frozenset(range(low, high + 1))))


SECONDS = st.one_of(
    st.just(Choice("0", frozenset({0}))), spans(0, 59, width=3, min_step=15), every(0, 59)
)
MINUTES = st.one_of(
    st.just(Choice("0", frozenset({0}))), spans(0, 59, width=10, min_step=5), every(0, 59)
)
HOURS = st.one_of(
    every(0, 23),
    spans(0, 4, width=2, top=23),  # where the transitions of the tested zones happen
    spans(0, 23, width=4),
)


ANY_DAY = st.sampled_from([Choice("*", test=lambda d: True), Choice("?", test=lambda d: True)])


@st.composite
def days_of_month(draw: st.DrawFn) -> Choice:
    """Day-of-month, including L, L-n, nW, LW, steps and lists mixing plain days and specials."""
    n = draw(st.one_of(st.sampled_from([1, 2, 3, 28, 29, 30, 31]), st.integers(1, 31)))
    k = draw(st.integers(1, 5))
    simple = [
        Choice(str(n), test=lambda d: d.day == n),
        Choice(
            f"{min(n, 25)}-{min(n, 25) + k}", test=lambda d: min(n, 25) <= d.day <= min(n, 25) + k
        ),
        Choice(f"*/{k + 1}", test=lambda d: (d.day - 1) % (k + 1) == 0),
        Choice(f"{n}/{k + 3}", test=lambda d: d.day >= n and (d.day - n) % (k + 3) == 0),
        Choice("L", test=lambda d: d.day == month_length(d)),
        Choice(
            draw(st.sampled_from(["last", "LAST", "l"])), test=lambda d: d.day == month_length(d)
        ),
        Choice(f"L-{k}", test=lambda d: d.day == month_length(d) - k),
        Choice(f"{n}W", test=lambda d: d.day == nearest_weekday(d, n)),
        Choice("LW", test=lambda d: d.day == max(weekdays_of_month(d))),
    ]
    first = draw(st.sampled_from(simple))
    if draw(st.booleans()) or first.text.startswith("*"):
        return first
    second = draw(st.sampled_from([c for c in simple if not c.text.startswith("*")]))
    a, b = first.test, second.test
    assert a is not None and b is not None
    return Choice(f"{first.text},{second.text}", test=lambda d: a(d) or b(d))


@st.composite
def days_of_week(draw: st.DrawFn) -> Choice:
    """Day-of-week: numbers 0-7, names in any case, ranges, lists, dL, d#n and word forms."""
    w = draw(st.integers(0, 7))
    v = draw(st.integers(0, 7))
    nth = draw(st.integers(1, 5))
    upper = draw(st.booleans())
    name = _case(WEEKDAYS[w % 7], upper)
    low, high = min(w, v), max(w, v)
    ordinal = ("1st", "2nd", "3rd", "4th", "5th")[nth - 1]
    simple = [
        Choice(str(w), test=lambda d: cron_weekday(d) == w % 7),
        Choice(name, test=lambda d: cron_weekday(d) == w % 7),
        Choice(
            f"{low}-{high}",
            test=lambda d: any(cron_weekday(d) == x % 7 for x in range(low, high + 1)),
        ),
        Choice(_case("mon-fri", upper), test=lambda d: 1 <= cron_weekday(d) <= 5),
        Choice(f"{w},{v}", test=lambda d: cron_weekday(d) in {w % 7, v % 7}),
        Choice(f"{w}L", test=lambda d: cron_weekday(d) == w % 7 and d.day + 7 > month_length(d)),
        Choice(
            f"{w}#{nth}", test=lambda d: cron_weekday(d) == w % 7 and (d.day - 1) // 7 + 1 == nth
        ),
        Choice(
            f"last {name}", test=lambda d: cron_weekday(d) == w % 7 and d.day + 7 > month_length(d)
        ),
        Choice(
            f"{ordinal} {name}", test=lambda d: cron_weekday(d) == w % 7 and (d.day + 6) // 7 == nth
        ),
        Choice(
            f"{name}#{nth},{v}L",
            test=lambda d: (
                (cron_weekday(d) == w % 7 and (d.day + 6) // 7 == nth)
                or (cron_weekday(d) == v % 7 and d.day + 7 > month_length(d))
            ),
        ),
    ]
    return draw(st.sampled_from(simple))


@st.composite
def months(draw: st.DrawFn) -> Choice:
    m = draw(st.integers(1, 12))
    k = draw(st.integers(0, 5))
    options = [
        Choice("*", frozenset(range(1, 13))),
        Choice(str(m), frozenset({m})),
        Choice(MONTHS[m - 1], frozenset({m})),
        Choice(f"{MONTHS[m - 1]}-{min(12, m + k)}", frozenset(range(m, min(12, m + k) + 1))),
        Choice(f"*/{k + 2}", frozenset(range(1, 13, k + 2))),
    ]
    return draw(st.sampled_from(options))
