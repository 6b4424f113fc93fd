"""The scheduler itself through the DST changes of New York: each fire time once, at the wall
time the rules give (SPEC §2.3), claimed, started and recorded by a real scheduler on a real
SQLite store.

The runtime's clock (`Runtime(clock=...)`, handed to the scheduler and its services) is the wall
clock moved forward by the test: to shortly before each fire time expected in a window around
the change, where the scheduler claims it ahead and starts it on time, then to the window's end.
A fire time the rules do not give would still be recorded, late, from the hours the clock
skipped (no coalescing, a long grace, room for several runs at once), and fail the check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gnomon.config import load_config
from gnomon.domain import Run, RunStatus, utcnow
from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for

NEW_YORK = ZoneInfo("America/New_York")
# No coalescing, a day's grace and room for several runs at once: every fire time the scheduler
# finds due is recorded as a run of its own, however late the moved clock makes it.
CONFIG = """
[scheduler]
timezone = "America/New_York"
poll_interval = 0.2
shutdown_grace = 2

[[jobs]]
id = "gnomon.prune_runs"
enabled = false

[[jobs]]
id = "at-0130"
command = ["true"]
trigger = { type = "cron", expression = "0 30 1 * * *" }  # fires: on the test's moved clock
misfire_grace_time = 86400
coalesce = false
max_instances = 5

[[jobs]]
id = "at-0230"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * *" }  # fires: on the test's moved clock
misfire_grace_time = 86400
coalesce = false
max_instances = 5

[[jobs]]
id = "hourly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 * * * *" }  # fires: on the test's moved clock
misfire_grace_time = 86400
coalesce = false
max_instances = 5
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# (window start, window end, {job: [(fire time in UTC, the wall time it is in New York)]})
SPRING = (  # 2026-03-08: at 02:00 EST the clocks go to 03:00 EDT
    utc("2026-03-08T05:10:00Z"),
    utc("2026-03-08T08:10:00Z"),
    {
        "at-0130": [("06:30", "01:30 EST")],
        # 02:30 does not exist that day: once, at the first instant after the gap.
        "at-0230": [("07:00", "03:00 EDT")],
        "hourly": [
            ("05:30", "00:30 EST"),
            ("06:30", "01:30 EST"),
            ("07:00", "03:00 EDT"),
            ("07:30", "03:30 EDT"),
        ],
    },
)
FALL = (  # 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST
    utc("2026-11-01T04:10:00Z"),
    utc("2026-11-01T08:10:00Z"),
    {
        # 01:30 happens twice that day: once, at the first.
        "at-0130": [("05:30", "01:30 EDT")],
        "at-0230": [("07:30", "02:30 EST")],
        # ...but an expression whose hour is `*` fires in both, keeping its rhythm.
        "hourly": [
            ("04:30", "00:30 EDT"),
            ("05:30", "01:30 EDT"),
            ("06:30", "01:30 EST"),
            ("07:30", "02:30 EST"),
        ],
    },
)
Window = tuple[datetime, datetime, dict[str, list[tuple[str, str]]]]


class MovedClock:
    """The wall clock plus an offset the test moves forward."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - utcnow()

    def now(self) -> datetime:
        return utcnow() + self._offset

    def move_to(self, when: datetime) -> None:
        if when > self.now():
            self._offset = when - utcnow()


@pytest.fixture
def started(
    write_config: WriteConfig,
) -> Iterator[Callable[[datetime], tuple[Runtime, MovedClock]]]:
    made: list[Runtime] = []

    def start(at: datetime) -> tuple[Runtime, MovedClock]:
        path = write_config(CONFIG)
        clock = MovedClock(at)
        runtime = Runtime(load_config(path, {}), config_source=path, env={}, clock=clock.now)
        made.append(runtime)
        runtime.prepare_store()
        runtime.start_scheduler()
        return runtime, clock

    yield start
    for runtime in made:
        runtime.close(grace=5)


def records_in(runtime: Runtime, job_id: str, start: datetime, end: datetime) -> list[Run]:
    """The job's records (any status) of fire times in the window, oldest first."""
    runs = runtime.store.list_runs(job_id=job_id, limit=500).items
    return sorted(
        (r for r in runs if r.scheduled_for is not None and start <= r.scheduled_for <= end),
        key=lambda r: r.scheduled_for or start,
    )


@pytest.mark.parametrize("window", [SPRING, FALL], ids=["spring-forward", "fall-back"])
def test_cron_jobs_fire_each_wall_time_of_a_dst_change_once(
    started: Callable[[datetime], tuple[Runtime, MovedClock]], window: Window
) -> None:
    start, end, expected = window
    day = start.date().isoformat()
    due = {job: [utc(f"{day}T{hhmm}:00Z") for hhmm, _ in times] for job, times in expected.items()}
    runtime, clock = started(start)
    for when in sorted({t for times in due.values() for t in times}):
        clock.move_to(when - timedelta(seconds=1.5))
        jobs = [job for job, times in due.items() if when in times]

        def ran(when: datetime = when, jobs: list[str] = jobs) -> bool:
            return all(
                any(
                    r.scheduled_for == when and r.status.is_final
                    for r in records_in(runtime, job, when, when)
                )
                for job in jobs
            )

        wait_for(ran, timeout=30, what=f"the runs of {jobs} at {when:%H:%M}Z", every=0.05)
    clock.move_to(end)
    # Every fire time up to the window's end is claimed once each job's next one is past it.
    wait_for(
        lambda: all(
            (record.next_fire_time or end) > end
            for record in runtime.store.list_jobs()
            if record.id in expected
        ),
        timeout=30,
        what="the scheduler to pass the window's end",
    )
    for job, times in expected.items():
        runs = records_in(runtime, job, start, end)
        assert [r.scheduled_for for r in runs] == due[job], job
        walls = [
            f"{r.scheduled_for.astimezone(NEW_YORK):%H:%M %Z}" for r in runs if r.scheduled_for
        ]
        assert walls == [wall for _, wall in times], job
        assert {(r.status, r.fire_count) for r in runs} == {(RunStatus.SUCCEEDED, 1)}, runs
