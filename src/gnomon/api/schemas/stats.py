"""Run statistics: totals by status, runs per hour, duration percentiles per job and hour."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gnomon.api.schemas.envelopes import Strict, Text
from gnomon.api.schemas.jobs import Instant


class StatusCountsDoc(BaseModel):
    """Runs of each status; every status is present."""

    queued: int
    running: int
    succeeded: int
    failed: int
    missed: int
    skipped: int
    interrupted: int
    cancelled: int
    timed_out: int


class Totals(BaseModel):
    last_24h: StatusCountsDoc = Field(alias="24h", description="Runs queued in the last 24 h.")
    last_7d: StatusCountsDoc = Field(alias="7d", description="Runs queued in the last 7 days.")


class HourDoc(BaseModel):
    start: str = Field(description="The hour's start (UTC).")
    counts: StatusCountsDoc


class DurationPointDoc(BaseModel):
    start: str = Field(description="The hour's start (UTC).")
    count: int = Field(description="Succeeded runs with a duration queued in the hour.")
    total_ms: int
    p50_ms: float
    p90_ms: float
    p99_ms: float


class JobDurations(BaseModel):
    job_id: str
    points: list[DurationPointDoc] = Field(description="Hours with succeeded runs, oldest first.")


class Stats(BaseModel):
    now: str
    since: str = Field(description="The start of the first hour.")
    until: str
    totals: Totals
    hours: list[HourDoc] = Field(description="Every hour of the range, oldest first.")
    durations: list[JobDurations] = Field(
        description="The 10 jobs (at most) whose succeeded runs in the range took the most "
        "time in all, most first."
    )


class RangeQuery(Strict):
    since: Instant | None = Field(
        default=None,
        description="From the hour holding this time (RFC 3339, with its offset, 1970-2199); "
        "default: "
        "24 hours before until; at most 744 hours (31 days) before until.",
    )
    until: Instant | None = Field(default=None, description="Up to this time; default: now.")


class StatsQuery(RangeQuery):
    job_id: Text = Field(
        default=None, max_length=64, description="Runs of this job only (also of a removed one)."
    )


class ChartWordsQuery(Strict):
    tz: Text = Field(
        default=None,
        max_length=64,
        description="The IANA timezone of the time axis (default UTC), e.g. Asia/Shanghai.",
    )
    lang: Literal["en", "zh"] | None = Field(
        default=None, description="The chart's words; default: as for every answer."
    )


class ChartQuery(StatsQuery, ChartWordsQuery):
    """The statistics' range and job, and the chart's timezone and words."""


class PercentileChartQuery(RangeQuery, ChartWordsQuery):
    jobs: int = Field(
        default=5,
        ge=1,
        le=10,
        description="How many jobs: those whose succeeded runs in the range took the most time.",
    )
    percentile: Literal["p90", "p99"] = Field(
        default="p90", description="The percentile drawn dashed beside the median."
    )


class DurationChartQuery(ChartWordsQuery):
    limit: int = Field(default=50, ge=1, le=500, description="How many of the last runs.")
