"""The scheduler's time: the wall clock, held from going back when the wall clock is stepped back.

Fire times are wall-clock instants, so firing follows the wall clock: a step forward (an NTP step,
a VM resumed after a pause) makes the fire times it skips late, and they are run or recorded
`missed` by each job's misfire grace like any late fire time. A step back would make the next
fire time seem far away (an hour of nothing after a one-hour step). So the scheduler's clock
never goes back: after a step back it keeps counting elapsed (monotonic) time from the last
instant it gave, until the wall clock catches up with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from gnomon.domain import utcnow

log = logging.getLogger(__name__)

#: Steps of the wall clock larger than this are logged (a warning names the step).
STEP_REPORTED = 1.0


class SteadyClock:
    """`now()`: the wall clock's reading, or, while the wall clock is behind the last reading
    given plus the monotonic time elapsed since, that instead."""

    def __init__(
        self,
        wall: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        # The real wall clock is read as time.time(): every run reads this clock a few times,
        # and building a datetime to take its timestamp again cost as much as the rest.
        self._real = wall is utcnow
        # (instant last given, monotonic reading then, wall clock then), as timestamps: replaced
        # whole, so a reader in another thread never sees one part updated without the others.
        self._last: tuple[float, float, float] | None = None

    def now(self) -> datetime:
        if self._real:
            wall = None
            wall_ts = time.time()
        else:
            wall = self._wall()
            wall_ts = wall.timestamp()
        mono = self._monotonic()
        last = self._last
        if last is None:
            self._last = (wall_ts, mono, wall_ts)
            return wall or datetime.fromtimestamp(wall_ts, UTC)
        given_ts, then, wall_then = last
        elapsed = mono - then
        step = wall_ts - (wall_then + elapsed)
        if step > STEP_REPORTED or step < -STEP_REPORTED:
            log.warning(
                "the wall clock stepped %s by %.1fs; %s",
                "forward" if step > 0 else "back",
                abs(step),
                "fire times it skipped are late"
                if step > 0
                else "the scheduler counts elapsed time until the wall clock catches up",
            )
        expected_ts = given_ts + elapsed
        if wall_ts >= expected_ts:
            self._last = (wall_ts, mono, wall_ts)
            return wall or datetime.fromtimestamp(wall_ts, UTC)
        self._last = (expected_ts, mono, wall_ts)
        return datetime.fromtimestamp(expected_ts, UTC)


def steady(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """The SteadyClock of `clock`."""
    return SteadyClock(clock).now
