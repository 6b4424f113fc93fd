"""A job's run durations drawn on the server as SVG: one bar per run, oldest on the left.

Like the runs-per-hour chart: plain SVG text without script or style, every word escaped. Each
bar has its run's status colour; a dashed line marks the median, so that a job growing slower
shows as bars climbing away from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from statistics import median
from xml.sax.saxutils import escape, quoteattr

from gnomon.api.charts import STACK, WORDS, grid_lines, nice_ceiling, svg_end, svg_start
from gnomon.domain import Run

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 40
MAX_SLOT = 24  # a few runs stay a few narrow bars on the left, not a wall of colour
COLOURS = dict(STACK)
DURATION_WORDS = {
    "en": {
        "title": "Duration of the last {n} runs",
        "empty": "No finished runs yet",
        "median": "median {value}",
    },
    "zh": {
        "title": "最近 {n} 次运行的耗时",
        "empty": "还没有结束的运行",
        "median": "中位数 {value}",
    },
}


def durations_svg(runs: Sequence[Run], zone: tzinfo, lang: str = "en") -> str:
    """Bars of the runs' durations (runs without one are left out), in the order given."""
    words: dict[object, str] = {**WORDS.get(lang, WORDS["en"])}
    words.update(DURATION_WORDS.get(lang, DURATION_WORDS["en"]))
    timed = [run for run in runs if run.duration_ms is not None]
    values = [run.duration_ms or 0 for run in timed]
    top = nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = min(plot_w / max(1, len(timed)), MAX_SLOT)
    gap = 2.0 if slot >= 6 else 0.0
    title = words["title"].format(n=len(timed))
    parts = [
        *svg_start(WIDTH, HEIGHT, title, 11),
        f'<text x="{LEFT}" y="16" font-size="12">{escape(title)}</text>',
    ]
    labels = [(fraction, format_ms(round(top * fraction))) for fraction in (0.0, 0.5, 1.0)]
    parts += grid_lines(LEFT, WIDTH - RIGHT, TOP + plot_h, plot_h, labels)
    for index, run in enumerate(timed):
        value = run.duration_ms or 0
        height = max(value / top * plot_h, 1.0)
        x = LEFT + index * slot + gap / 2
        parts.append(
            f'<rect class="bar" data-run-id={quoteattr(run.id)} data-status="{run.status.value}" '
            f'data-ms="{value}" x="{x:.2f}" y="{TOP + plot_h - height:.2f}" '
            f'width="{max(slot - gap, 0.5):.2f}" height="{height:.2f}" '
            f'fill="{COLOURS.get(run.status, "#5b6675")}"/>'
        )
    if timed:
        middle = median(values)
        y = TOP + plot_h - middle / top * plot_h
        label = escape(words["median"].format(value=format_ms(round(middle))))
        parts.append(
            f'<line class="median" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#1c2430" stroke-width="1" stroke-dasharray="4 3"/>'
            f'<text x="{WIDTH - RIGHT}" y="{max(y - 4, TOP - 2):.1f}" text-anchor="end">'
            f"{label}</text>"
        )
        parts += _ends(timed, zone)
    empty_at = None if timed else (LEFT + plot_w / 2, TOP + plot_h / 2)
    parts += svg_end(words, zone, size=(WIDTH, HEIGHT), empty_at=empty_at)
    return "".join(parts)


def _ends(timed: Sequence[Run], zone: tzinfo) -> list[str]:
    # The last label sits under the last bar, when there is room for it beside the first.
    """When the first and the last run drawn started (or were queued)."""
    y = TOP + (HEIGHT - TOP - BOTTOM) + 16

    def when(run: Run) -> str:
        return escape((run.started_at or run.queued_at).astimezone(zone).strftime("%m-%d %H:%M"))

    parts = [f'<text x="{LEFT}" y="{y}" fill="#5b6675">{when(timed[0])}</text>']
    if len(timed) > 1:
        right = min(WIDTH - RIGHT, LEFT + len(timed) * MAX_SLOT)
        if right - LEFT >= 160:  # room for both labels side by side
            parts.append(
                f'<text x="{right:.1f}" y="{y}" text-anchor="end" fill="#5b6675">'
                f"{when(timed[-1])}</text>"
            )
    return parts


def format_ms(ms: int) -> str:
    """A duration in the unit that reads best: 850 ms, 4.2 s, 3.5 min, 2.1 h."""
    if ms < 1000:
        return f"{ms} ms"
    for size, unit in ((3_600_000, "h"), (60_000, "min")):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.1f} s"
