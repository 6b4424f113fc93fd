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
from datetime import datetime, timedelta

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
        # (instant last given, monotonic reading then, wall reading then); replaced whole, so
        # a reader in another thread never sees one part updated without the others.
        self._last: tuple[datetime, float, datetime] | None = None

    def now(self) -> datetime:
        wall = self._wall()
        mono = self._monotonic()
        last = self._last
        if last is None:
            self._last = (wall, mono, wall)
            return wall
        given, then, wall_then = last
        expected = given + timedelta(seconds=mono - then)
        step = (wall - (wall_then + timedelta(seconds=mono - then))).total_seconds()
        if abs(step) > STEP_REPORTED:
            log.warning(
                "the wall clock stepped %s by %.1fs; %s",
                "forward" if step > 0 else "back",
                abs(step),
                "fire times it skipped are late"
                if step > 0
                else "the scheduler counts elapsed time until the wall clock catches up",
            )
        now = wall if wall >= expected else expected
        self._last = (now, mono, wall)
        return now


def steady(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """The SteadyClock of `clock`."""
    return SteadyClock(clock).now
