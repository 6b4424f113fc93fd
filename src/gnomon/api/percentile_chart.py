"""Duration percentiles per job and hour drawn on the server as SVG: for each of a few jobs, its
median as a solid line and a higher percentile as a dashed one, hour by hour.

Like the runs-per-hour chart: plain SVG text without script or style, every word escaped. An
hour without succeeded runs of a job breaks its lines; an hour between two such gaps shows as
a dot. Each line says whose it is (data-job-id, data-percentile) and holds a <title>.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from xml.sax.saxutils import escape, quoteattr

from gnomon.api.charts import RIGHT, WORDS, grid_lines, svg_end, svg_start, time_axis
from gnomon.api.duration_chart import format_ms
from gnomon.domain import PERCENTILES, DurationPoint, StatusCounts

WIDTH, HEIGHT = 720, 280
TOP, BOTTOM = 30, 40
#: Left margin: room for "12.5 min".
AXIS = 60
#: One colour per job, in the order the jobs come (most time first); none is a status colour's.
PALETTE = (
    "#1f5fbf",
    "#c2571a",
    "#2a8a7a",
    "#7b3fb3",
    "#b5367a",
    "#4a5a1e",
    "#0f6f9c",
    "#8c5a2b",
    "#3d4bb8",
    "#6b6b6b",
)
#: How many characters of a job id the legend shows (the line's title has all of it).
LEGEND_CHARS = 22
#: The tops the duration axis may have, in ms: round numbers of ms, seconds, minutes and hours,
#: whose halves are round too, so its three labels read well (e.g. 0, 1.5 min, 3.0 min).
AXIS_TOPS = sorted(
    {
        unit * step
        for unit in (1, 1000, 60_000, 3_600_000)
        for step in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 80, 100, 200, 500)
    }
)
PERCENTILE_WORDS = {
    "en": {
        "title": "Duration per hour: median (solid) and {high} (dashed)",
        "empty": "No succeeded runs in these hours",
        "line": "{job}: {name} duration per hour",
        "median": "median",
    },
    "zh": {
        "title": "每小时耗时：中位数（实线）与 {high}（虚线）",
        "empty": "这些小时内没有成功的运行",
        "line": "{job}：每小时耗时的{name}",
        "median": "中位数",
    },
}


def percentile_name(fraction: float) -> str:
    """p50, p90, p99: how the API names a percentile."""
    return f"p{round(fraction * 100)}"


def percentiles_svg(
    durations: dict[str, list[DurationPoint]],
    hours: Sequence[StatusCounts],
    zone: tzinfo,
    high: float = 0.9,
    lang: str = "en",
) -> str:
    """Lines of the jobs' median and `high` percentile (one of PERCENTILES) per hour of
    `hours`, the jobs in the order given, with a legend of their ids and colours."""
    words: dict[object, str] = {**WORDS.get(lang, WORDS["en"])}
    words.update(PERCENTILE_WORDS.get(lang, PERCENTILE_WORDS["en"]))
    high_index = PERCENTILES.index(high)
    high_name = percentile_name(high)
    legend, legend_height = _legend(list(durations))
    top_y = TOP + legend_height
    plot_w, plot_h = WIDTH - AXIS - RIGHT, HEIGHT - top_y - BOTTOM
    slot = plot_w / max(1, len(hours))
    index_of = {hour.start: index for index, hour in enumerate(hours)}
    values = [
        point.percentiles[high_index]
        for points in durations.values()
        for point in points
        if point.start in index_of
    ]
    top = duration_ceiling(max(values, default=0))
    title = words["title"].format(high=high_name)
    parts = [
        *svg_start(WIDTH, HEIGHT, title, 12),
        f'<text x="{AXIS}" y="16" font-size="13">{escape(title)}</text>',
        *legend,
    ]
    labels = [(fraction, format_ms(round(top * fraction))) for fraction in (0.0, 0.5, 1.0)]
    parts += grid_lines(AXIS, WIDTH - RIGHT, top_y + plot_h, plot_h, labels)

    def position(point: DurationPoint, which: int) -> tuple[float, float]:
        x = AXIS + (index_of[point.start] + 0.5) * slot
        return x, top_y + plot_h - point.percentiles[which] / top * plot_h

    for number, (job_id, points) in enumerate(durations.items()):
        colour = PALETTE[number % len(PALETTE)]
        shown = sorted((p for p in points if p.start in index_of), key=lambda p: p.start)
        for which, dashes, name in ((0, "", words["median"]), (high_index, "5 3", high_name)):
            line = words["line"].format(job=job_id, name=name)
            parts.append(
                _series(
                    [position(p, which) for p in shown],
                    [index_of[p.start] for p in shown],
                    colour,
                    dashes,
                    2.0 if slot >= 8 else 1.5,  # thinner where a week of hours crowds them
                    f"data-job-id={quoteattr(job_id)} "
                    f'data-percentile="{percentile_name(PERCENTILES[which])}"',
                    line,
                )
            )
    parts += time_axis(hours, zone, slot, top_y + plot_h, left=AXIS)
    empty_at = None if values else (AXIS + plot_w / 2, top_y + plot_h / 2)
    parts += svg_end(words, zone, size=(WIDTH, HEIGHT), empty_at=empty_at)
    return "".join(parts)


def duration_ceiling(ms: float) -> int:
    """The least of AXIS_TOPS that is at least `ms` (beyond them, whole multiples of 100 h)."""
    for top in AXIS_TOPS:
        if top >= ms:
            return top
    step = 100 * 3_600_000
    return int(-(-ms // step) * step)


def _series(
    xy: list[tuple[float, float]],
    slots: list[int],
    colour: str,
    dashes: str,
    width: float,
    attributes: str,
    title: str,
) -> str:
    """One line, broken where hours are missing, and a dot for each point alone."""
    path: list[str] = []
    dots: list[str] = []
    for index, (x, y) in enumerate(xy):
        joined_before = index > 0 and slots[index - 1] == slots[index] - 1
        joined_after = index + 1 < len(xy) and slots[index + 1] == slots[index] + 1
        path.append(f"{'L' if joined_before else 'M'}{x:.1f} {y:.1f}")
        if not joined_before and not joined_after:
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    dash = f' stroke-dasharray="{dashes}"' if dashes else ""
    return (
        f'<g class="series" {attributes} data-points="{len(xy)}">'
        f"<title>{escape(title)}</title>"
        f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="{width}"'
        f"{dash}/>"
        f"{''.join(dots)}</g>"
    )


def _legend(jobs: list[str]) -> tuple[list[str], int]:
    """The jobs' colours and ids, in as many lines as it takes, and its extra height."""
    parts = []
    x, y = float(AXIS), 24
    for number, job_id in enumerate(jobs):
        name = job_id if len(job_id) <= LEGEND_CHARS else job_id[: LEGEND_CHARS - 1] + "…"
        width = 22 + 7.0 * sum(2 if ord(ch) > 0x2E80 else 1 for ch in name) + 16
        if x + width > WIDTH - RIGHT and x > AXIS:
            x, y = float(AXIS), y + 18
        parts.append(
            f'<g class="legend" data-job-id={quoteattr(job_id)}>'
            f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{y + 6}" y2="{y + 6}" '
            f'stroke="{PALETTE[number % len(PALETTE)]}" stroke-width="3"/>'
            f'<text x="{x + 20:.1f}" y="{y + 10}">{escape(name)}</text></g>'
        )
        x += width
    return parts, y - 24 + (18 if jobs else 0)
