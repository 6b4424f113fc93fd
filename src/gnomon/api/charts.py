"""Charts drawn on the server as SVG: runs per hour, stacked by status.

Plain SVG text, no script and no style sheet, so that it is an image anywhere (an <img> of the
console under its strict policy, a saved file, a wiki page) and needs no charting library.
Every word in it is escaped; the only text from outside is the timezone's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from xml.sax.saxutils import escape, quoteattr

from gnomon.domain import RunStatus, StatusCounts

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 34, 40
FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'Noto Sans CJK SC', sans-serif"
#: Bottom to top, with the console's badge colours (darker for the commoner of a pair).
STACK = (
    (RunStatus.SUCCEEDED, "#2e8b4e"),
    (RunStatus.RUNNING, "#1f5fbf"),
    (RunStatus.QUEUED, "#8db0e6"),
    (RunStatus.FAILED, "#b3261e"),
    (RunStatus.TIMED_OUT, "#e0766c"),
    (RunStatus.MISSED, "#b07800"),
    (RunStatus.SKIPPED, "#e3c26a"),
    (RunStatus.INTERRUPTED, "#5b6675"),
    (RunStatus.CANCELLED, "#aab2bd"),
)
WORDS: dict[str, dict[object, str]] = {
    "en": {
        RunStatus.QUEUED: "Queued",
        RunStatus.RUNNING: "Running",
        RunStatus.SUCCEEDED: "Succeeded",
        RunStatus.FAILED: "Failed",
        RunStatus.MISSED: "Missed",
        RunStatus.SKIPPED: "Skipped",
        RunStatus.INTERRUPTED: "Interrupted",
        RunStatus.CANCELLED: "Cancelled",
        RunStatus.TIMED_OUT: "Timed out",
        "title": "Runs per hour by status",
        "empty": "No runs in these hours",
        "times": "Times in {zone}",
    },
    "zh": {
        RunStatus.QUEUED: "排队中",
        RunStatus.RUNNING: "运行中",
        RunStatus.SUCCEEDED: "成功",
        RunStatus.FAILED: "失败",
        RunStatus.MISSED: "已错过",
        RunStatus.SKIPPED: "已跳过",
        RunStatus.INTERRUPTED: "已中断",
        RunStatus.CANCELLED: "已取消",
        RunStatus.TIMED_OUT: "已超时",
        "title": "每小时的运行（按状态）",
        "empty": "这些小时内没有运行",
        "times": "时间为 {zone}",
    },
}
#: Hours between two labels of the time axis: the first that leaves at most 8 labels.
LABEL_STEPS = (1, 2, 3, 6, 12, 24, 48, 72, 168)


def runs_per_hour_svg(hours: Sequence[StatusCounts], zone: tzinfo, lang: str = "en") -> str:
    """Bars of runs per hour, stacked by status, with a legend of the statuses present and an
    axis of local times in `zone`."""
    words = WORDS.get(lang, WORDS["en"])
    legend, legend_height = _legend(hours, words)
    top_y = TOP + legend_height
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - top_y - BOTTOM
    totals = [sum(hour.counts.values()) for hour in hours]
    top = nice_ceiling(max(totals, default=0))
    slot = plot_w / max(1, len(hours))
    gap = 1.0 if slot >= 4 else 0.0
    parts = [*svg_start(WIDTH, HEIGHT, words["title"], 11), *legend]
    fractions = (0.0, 0.5, 1.0) if top > 1 else (0.0, 1.0)
    labels = [(fraction, str(round(top * fraction))) for fraction in fractions]
    parts += grid_lines(LEFT, WIDTH - RIGHT, top_y + plot_h, plot_h, labels)
    for index, hour in enumerate(hours):
        base: float = top_y + plot_h
        x = LEFT + index * slot
        for status, colour in STACK:
            count = hour.counts.get(status, 0)
            if count <= 0:
                continue
            height = count / top * plot_h
            base -= height
            parts.append(
                f'<rect class="bar" data-status="{status.value}" data-count="{count}" '
                f'x="{x + gap / 2:.2f}" y="{base:.2f}" width="{max(slot - gap, 0.5):.2f}" '
                f'height="{height:.2f}" fill="{colour}"/>'
            )
    parts += time_axis(hours, zone, slot, top_y + plot_h)
    empty_at = None if any(totals) else (LEFT + plot_w / 2, top_y + plot_h / 2)
    parts += svg_end(words, zone, size=(WIDTH, HEIGHT), empty_at=empty_at)
    return "".join(parts)


def svg_start(width: int, height: int, title: str, font_size: int) -> list[str]:
    """The opening of a chart: its element, its title (what screen readers say) and a white
    ground."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family={quoteattr(FONT)} '
        f'font-size="{font_size}" fill="#1c2430">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def grid_lines(
    left: float, right: float, bottom: float, plot_h: float, labels: Sequence[tuple[float, str]]
) -> list[str]:
    """A horizontal line across the plot at each (fraction of its height, label) given, with
    the label left of it."""
    parts = []
    for fraction, label in labels:
        y = bottom - fraction * plot_h
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d5dae1" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6675">'
            f"{escape(label)}</text>"
        )
    return parts


def svg_end(
    words: dict[object, str],
    zone: tzinfo,
    *,
    size: tuple[int, int],
    empty_at: tuple[float, float] | None,
) -> list[str]:
    """The end of a chart of `size` (width, height): the `empty` words centred at `empty_at`
    when it has nothing to show, and which timezone its times are in, bottom right."""
    width, height = size
    parts = []
    if empty_at is not None:
        parts.append(
            f'<text x="{empty_at[0]:.1f}" y="{empty_at[1]:.1f}" text-anchor="middle" '
            f'fill="#5b6675" font-size="13">{escape(words["empty"])}</text>'
        )
    zone_text = escape(words["times"].format(zone=zone_name(zone)))
    parts.append(
        f'<text x="{width - RIGHT}" y="{height - 4}" text-anchor="end" fill="#5b6675">'
        f"{zone_text}</text></svg>"
    )
    return parts


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 3, 4, 5, 6, 8, 10, 20, 30 … that is at least `value` (at least 1)."""
    scale = 1
    while True:
        for step in (1, 2, 3, 4, 5, 6, 8):
            if step * scale >= value:
                return step * scale
        scale *= 10


def time_axis(
    hours: Sequence[StatusCounts], zone: tzinfo, slot: float, y: float, left: float = LEFT
) -> list[str]:
    """Ticks and local times under a plot of one slot per hour starting at x = `left`."""
    if not hours:
        return []
    step = next((s for s in LABEL_STEPS if len(hours) / s <= 8), LABEL_STEPS[-1])
    pattern = "%H:%M" if len(hours) <= 48 else "%m-%d %H:%M"
    parts = []
    for index in range(0, len(hours), step):
        x = left + index * slot
        label = hours[index].start.astimezone(zone).strftime(pattern)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y:.1f}" y2="{y + 4:.1f}" stroke="#8a98ad"/>'
            f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="start" fill="#5b6675">'
            f"{escape(label)}</text>"
        )
    return parts


def _legend(hours: Sequence[StatusCounts], words: dict[object, str]) -> tuple[list[str], int]:
    """The legend of the statuses present, in as many lines as it takes, and its extra height
    beyond one line."""
    parts = []
    x, y = float(LEFT), 10
    for status, colour in STACK:
        if not any(hour.counts.get(status, 0) for hour in hours):
            continue
        name = words[status]
        # Chinese characters are about twice as wide as Latin letters at one font size.
        width = 14 + 6.5 * sum(2 if ord(ch) > 0x2E80 else 1 for ch in name) + 14
        if x + width > WIDTH - RIGHT:
            x, y = float(LEFT), y + 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}">{escape(name)}</text>'
        )
        x += width
    return parts, y - 10


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")
