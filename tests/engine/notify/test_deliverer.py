"""The deliverer on its own: when it sends, how it spaces retries, and its supervised thread."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from gnomon.alerts import Attempt, Channel, ChannelKind, Delivery, DeliveryStatus, Notifications
from gnomon.domain import Alerting, Event, Route, RunStatus, RunUpdate, utcnow
from gnomon.engine.notify.deliverer import Deliverer, _after
from gnomon.engine.observe import NullMetrics
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.store.sql import SqlStore
from tests.e2e.procs import wait_for
from tests.engine.notify.receivers import HttpReceiver
from tests.engine.targets import T0, new_run
from tests.engine.test_scheduler_firing import RestartCounter

CHANNEL = Channel(
    "ops", ChannelKind.WEBHOOK, retry_backoff=10, retry_backoff_max=60, give_up_after=3600
)
DELIVERY = Delivery("d-1", "ops", Event.FAILED, "j1", "r-1", DeliveryStatus.PENDING, created_at=T0)


def failed(at_s: float) -> Attempt:
    return Attempt(T0 + timedelta(seconds=at_s), error="HTTP 500", status_code=500)


def test_retries_double_from_the_backoff_up_to_the_longest_pause() -> None:
    delivery, pauses = DELIVERY, []
    for _ in range(5):
        now = (delivery.next_attempt_at or T0) + timedelta(seconds=0)
        delivery = _after(delivery, failed((now - T0).total_seconds()), CHANNEL, now, None)
        assert delivery.next_attempt_at is not None
        pauses.append((delivery.next_attempt_at - now).total_seconds())
    assert pauses == [10, 20, 40, 60, 60]
    assert delivery.attempt_count == 5 and len(delivery.attempts) == 5
    assert delivery.status is DeliveryStatus.PENDING


def test_a_receivers_retry_after_lengthens_the_pause() -> None:
    after = _after(DELIVERY, failed(0), CHANNEL, T0, retry_after=120)
    assert after.next_attempt_at == T0 + timedelta(seconds=120)


def test_the_last_try_comes_at_the_give_up_time_and_a_failure_then_gives_up() -> None:
    near = T0 + timedelta(seconds=3590)
    last = _after(DELIVERY, failed(3590), CHANNEL, near, None)
    assert last.next_attempt_at == T0 + timedelta(seconds=3600)
    end = T0 + timedelta(seconds=3600)
    given_up = _after(last, failed(3600), CHANNEL, end, None)
    assert given_up.status is DeliveryStatus.FAILED
    assert (given_up.next_attempt_at, given_up.finished_at) == (None, end)


def test_a_success_is_delivered_and_keeps_the_record_of_failures_before_it() -> None:
    once = _after(DELIVERY, failed(0), CHANNEL, T0, None)
    done = _after(once, Attempt(T0, status_code=204), CHANNEL, T0, None)
    assert done.status is DeliveryStatus.DELIVERED
    assert [a.status_code for a in done.attempts] == [500, 204]


def _store(tmp_path: Path) -> SqlStore:
    store = SqlStore(f"sqlite:///{tmp_path / 'gnomon.db'}")
    store.upgrade()
    return store


def _failed_run(store: SqlStore, channels: tuple[str, ...] = ("ops",)) -> None:
    run = store.add_run(new_run(scheduled_for=None))
    routes = tuple(Route(channel, frozenset({Event.FAILED})) for channel in channels)
    store.update_runs([RunUpdate(run.id, RunStatus.FAILED, alerting=Alerting("j1", routes))])


class DeliveryMetrics(NullMetrics):
    def __init__(self) -> None:
        self.sends: dict[tuple[str, str], int] = {}
        self.queue: list[int] = []

    def delivery_attempted(self, channel: str, result: str) -> None:
        self.sends[(channel, result)] = self.sends.get((channel, result), 0) + 1

    def set_delivery_queue(self, depth: int) -> None:
        self.queue.append(depth)


def test_a_failing_channel_rests_while_the_others_are_delivered(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for _ in range(3):
        _failed_run(store, ("down", "up"))
    now = [utcnow() + timedelta(seconds=1)]  # after the events, well before their give-up
    down = HttpReceiver()  # never started: connections are refused
    with HttpReceiver().start() as up:
        channels = {
            "down": Channel("down", ChannelKind.WEBHOOK, url=down.url, retry_backoff=10),
            "up": Channel("up", ChannelKind.WEBHOOK, url=up.url),
        }
        metrics = DeliveryMetrics()
        deliverer = Deliverer(
            store,
            Notifications(channels),
            is_leader=lambda: True,
            clock=lambda: now[0],
            env={},
            metrics=metrics,
        )
        try:
            assert not deliverer.deliver_due()
            assert len(up.requests()) == 3
            assert metrics.sends == {("up", "delivered"): 3, ("down", "retrying"): 1}
            assert metrics.queue == [6]  # seen before this pass sent anything
            deliverer.deliver_due()
            assert metrics.queue == [6, 3]

            def attempts() -> list[int]:
                found = store.list_deliveries(channel="down").items
                return sorted(d.attempt_count for d in found)

            assert attempts() == [0, 0, 1]  # the first failure rests the channel
            deliverer.deliver_due()
            assert attempts() == [0, 0, 1]  # still resting: not even read
            now[0] += timedelta(seconds=11)
            deliverer.deliver_due()
            assert attempts() == [0, 1, 1]  # one more try once its pause is over
        finally:
            deliverer.stop()


def test_only_the_leader_delivers(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _failed_run(store)
    leading = threading.Event()
    with HttpReceiver().start() as hook:
        channels = {"ops": Channel("ops", ChannelKind.WEBHOOK, url=hook.url)}
        deliverer = Deliverer(
            store,
            Notifications(channels),
            is_leader=leading.is_set,
            clock=lambda: T0 + timedelta(days=36500),
            env={},
        )
        try:
            deliverer.deliver_due()
            assert hook.requests() == []
            leading.set()
            deliverer.deliver_due()
        finally:
            deliverer.stop()
        (request,) = hook.requests()
    (delivery,) = store.list_deliveries().items
    assert delivery.status is DeliveryStatus.DELIVERED
    assert request.delivery == delivery.id


# The notifier thread dying is the point: pytest notes the exception that ended it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_notifier_thread_is_started_again_if_it_dies(tmp_path: Path) -> None:
    store = _store(tmp_path)
    metrics = RestartCounter()
    scheduler = Scheduler(store, SchedulerOptions(poll_interval=0.2, lease_ttl=2), metrics=metrics)
    deliverer = scheduler._deliverer
    deliver = deliverer.deliver_due
    crashed = threading.Event()

    def crash_once() -> int:
        if not crashed.is_set():
            crashed.set()
            raise SystemExit("the notifier thread dies")  # not an Exception: ends the thread
        return deliver()

    deliverer.deliver_due = crash_once  # type: ignore[method-assign]
    scheduler.start()
    try:
        wait_for(crashed.is_set, timeout=10, what="the notifier to crash")
        wait_for(lambda: metrics.restarted == ["notifier"], 5, "the notifier to be restarted")
        assert scheduler.threads_down() == []
    finally:
        scheduler.stop(grace=1)
