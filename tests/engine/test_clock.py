"""The scheduler's clock follows the wall clock forward and never goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gnomon.engine import clock as clock_module
from gnomon.engine.clock import SteadyClock

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class Hands:
    def __init__(self) -> None:
        self.wall = T0
        self.mono = 100.0

    def run(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def test_follows_the_wall_clock_and_its_steps_forward(caplog: pytest.LogCaptureFixture) -> None:
    hands = Hands()
    clock = SteadyClock(lambda: hands.wall, lambda: hands.mono)
    assert clock.now() == T0
    hands.run(2)
    assert clock.now() == T0 + timedelta(seconds=2)
    hands.wall += timedelta(seconds=30)  # an NTP step
    assert clock.now() == T0 + timedelta(seconds=32)
    assert "stepped forward by 30.0s" in caplog.text


def test_after_a_step_back_counts_elapsed_time_until_the_wall_clock_catches_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hands = Hands()
    clock = SteadyClock(lambda: hands.wall, lambda: hands.mono)
    clock.now()
    hands.run(1)
    hands.wall -= timedelta(hours=1)
    assert clock.now() == T0 + timedelta(seconds=1)
    hands.run(10)
    assert clock.now() == T0 + timedelta(seconds=11)
    assert caplog.text.count("stepped back by 3600.0s") == 1  # said once, not at every reading
    hands.wall += timedelta(hours=1, seconds=5)  # the wall clock is corrected past us
    assert clock.now() == T0 + timedelta(hours=0, seconds=16)


def test_the_real_wall_clock_read_as_a_float_follows_the_same_rules(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hands = Hands()
    monkeypatch.setattr(clock_module.time, "time", lambda: hands.wall.timestamp())
    clock = SteadyClock(monotonic=lambda: hands.mono)  # the default wall clock: utcnow
    first = clock.now()
    assert first == T0 and first.tzinfo is UTC
    hands.run(1)
    hands.wall -= timedelta(hours=1)  # stepped back: counts elapsed time
    assert clock.now() == T0 + timedelta(seconds=1)
    hands.run(2)
    assert clock.now() == T0 + timedelta(seconds=3)
    hands.wall += timedelta(hours=1, seconds=30)  # forward past us: followed
    assert clock.now() == T0 + timedelta(seconds=33)
    assert "stepped back by 3600.0s" in caplog.text
    assert "stepped forward" in caplog.text
