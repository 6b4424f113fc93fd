"""Run statistics for the console's overview, as data and as a chart (view permission)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any

from flask import Blueprint, Response, request

from gnomon.api import schemas as s
from gnomon.api.access import VIEW, require
from gnomon.api.charts import runs_per_hour_svg
from gnomon.api.duration_chart import durations_svg
from gnomon.api.envelope import language, success
from gnomon.api.messages import LANGUAGES
from gnomon.api.openapi import document
from gnomon.api.params import Query
from gnomon.api.percentile_chart import percentile_name, percentiles_svg
from gnomon.api.state import state
from gnomon.domain import PERCENTILES, RunStatus, StatusCounts
from gnomon.errors import Problem, TriggerInvalid
from gnomon.services.documents import iso
from gnomon.services.runs import DURATION_JOBS, MAX_PAGE, STATS_WINDOWS, StatsReport
from gnomon.triggers.timezones import resolve_timezone

bp = Blueprint("stats", __name__, url_prefix="/api/v1/scheduler")

DEFAULT_DURATION_RUNS = 50
#: How many jobs the percentile chart draws unless asked (?jobs=1..DURATION_JOBS).
DEFAULT_CHART_JOBS = 5
#: The percentiles the chart may draw dashed beside the median, by name.
HIGH_PERCENTILES = {percentile_name(p): p for p in PERCENTILES if p > 0.5}
DEFAULT_HIGH = "p90"
_PERCENTILE_KEYS = [f"p{round(p * 100)}_ms" for p in PERCENTILES]


@bp.get("/stats")
@document(s.StatsEnvelope, errors=(400, 401), query=s.StatsQuery, tag="runs")
@require(VIEW)
def get_stats() -> Response:
    """Run statistics → {now, since, until, totals, hours, durations}.

    ?since=&until=&job_id=. Runs are counted by the UTC hour they were queued in: totals of
    the last 24 h and 7 days by status, every hour of the range by status, and duration
    percentiles per job and hour. Raises ValidationFailed (per query parameter).
    """
    query = Query()
    since = query.instant("since")
    until = query.instant("until")
    job_id = query.text("job_id", max_length=64)
    query.done()
    report = state().runtime.runs.run_stats(since=since, until=until, job_id=job_id)
    return success(stats_document(report))


@bp.get("/stats/runs-per-hour.svg")
@document(None, errors=(400, 401), query=s.ChartQuery, tag="runs")
@require(VIEW)
def runs_per_hour_chart() -> Response:
    """Runs per hour, stacked by status, as an SVG image.

    The same ?since=&until=&job_id= as the statistics, plus &tz= (an IANA timezone for the
    time axis, default UTC) and &lang=en|zh (default: as for every answer). Raises
    ValidationFailed (per query parameter).
    """
    query = Query()
    since = query.instant("since")
    until = query.instant("until")
    job_id = query.text("job_id", max_length=64)
    zone, lang = _chart_options(query)
    query.done()
    report = state().runtime.runs.run_stats(since=since, until=until, job_id=job_id)
    return _svg(runs_per_hour_svg(report.stats.hours, zone, lang))


@bp.get("/stats/durations.svg")
@document(None, errors=(400, 401), query=s.PercentileChartQuery, tag="runs")
@require(VIEW)
def duration_percentiles_chart() -> Response:
    """Duration percentiles per job and hour as an SVG image: for the ?jobs=1..10 (default 5)
    jobs whose succeeded runs took the most time in the range, the median per hour as a solid
    line and &percentile=p90|p99 (default p90) as a dashed one.

    ?since=&until=, &tz= and &lang= as for the runs-per-hour chart. Raises ValidationFailed
    (per query parameter).
    """
    query = Query()
    since = query.instant("since")
    until = query.instant("until")
    jobs = query.integer("jobs", DEFAULT_CHART_JOBS, 1, DURATION_JOBS)
    high = request.args.get("percentile", DEFAULT_HIGH)  # empty is no choice: refused
    if high not in HIGH_PERCENTILES:
        allowed = ", ".join(HIGH_PERCENTILES)
        query.problems.append(Problem("percentile", f"must be one of {allowed}; got {high!r}"))
        high = DEFAULT_HIGH
    zone, lang = _chart_options(query)
    query.done()
    report = state().runtime.runs.run_stats(since=since, until=until)
    durations = dict(list(report.stats.durations.items())[:jobs])
    svg = percentiles_svg(durations, report.stats.hours, zone, HIGH_PERCENTILES[high], lang)
    return _svg(svg)


@bp.get("/jobs/<job_id>/durations.svg")
@document(None, errors=(400, 401, 404), query=s.DurationChartQuery, tag="runs")
@require(VIEW)
def durations_chart(job_id: str) -> Response:
    """The durations of a job's last runs (?limit=1..500, default 50), one bar each, oldest
    on the left, coloured by status, with their median, as an SVG image.

    &tz= and &lang= as for the runs-per-hour chart. Raises JobNotFound, ValidationFailed
    (per query parameter).
    """
    query = Query()
    limit = query.integer("limit", DEFAULT_DURATION_RUNS, 1, MAX_PAGE)
    zone, lang = _chart_options(query)
    query.done()
    page = state().runtime.runs.list_runs(job_id, limit=limit)
    return _svg(durations_svg(page.items[::-1], zone, lang))


def _chart_options(query: Query) -> tuple[tzinfo, str]:
    """The chart's timezone (?tz=, default UTC) and language (?lang=, default the answer's)."""
    zone_name = query.text("tz", max_length=64)
    lang = query.text("lang", max_length=2)
    if lang is not None and lang not in LANGUAGES:
        query.problems.append(Problem("lang", f"must be one of {', '.join(LANGUAGES)}"))
    zone: tzinfo = UTC
    if zone_name is not None:
        try:
            zone = resolve_timezone(zone_name, field="tz")
        except TriggerInvalid as exc:
            query.problems.extend(exc.problems)
    return zone, lang or language()


def _svg(svg: str) -> Response:
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    # An image, never a document that could run anything, wherever it is opened.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def stats_document(report: StatsReport) -> dict[str, Any]:
    stats = report.stats
    return {
        "now": iso(report.now),
        "since": iso(report.since),
        "until": iso(report.until),
        "totals": {
            name: _counts(found) for name, found in zip(STATS_WINDOWS, stats.totals, strict=True)
        },
        "hours": [{"start": iso(hour.start), "counts": _counts(hour)} for hour in stats.hours],
        "durations": [
            {
                "job_id": job_id,
                "points": [
                    {
                        "start": iso(point.start),
                        "count": point.count,
                        "total_ms": point.total_ms,
                        **dict(zip(_PERCENTILE_KEYS, point.percentiles, strict=True)),
                    }
                    for point in points
                ],
            }
            for job_id, points in stats.durations.items()
        ],
    }


def _counts(found: StatusCounts) -> dict[str, int]:
    return {status.value: found.counts[status] for status in RunStatus}
