"""The leader's delivery of the outbox: pending deliveries sent at least once, with backoff.

Only the node holding the scheduler lease delivers (a standby that takes over carries on where
it stopped: the outbox is in the store). Each pass reads the deliveries due and sends them,
each channel in a thread of its own so that a slow receiver does not hold up the others. After
every attempt the delivery is written back: delivered, or due again after a pause that doubles
from the channel's retry_backoff up to its retry_backoff_max (longer when the receiver asks
with Retry-After), or, once it has failed for longer than give_up_after since its event, marked
failed. A failure also rests its channel until that delivery is due again: the channel's other
deliveries wait rather than meet the same closed port one by one, and are not read meanwhile,
so they never crowd out other channels' deliveries.

At least once: a delivery sent and not yet written back when the node stops is sent again by
the next leader, with the same X-Gnomon-Delivery id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from gnomon.alerts import (
    MAX_ATTEMPTS_KEPT,
    Attempt,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Notifications,
)
from gnomon.engine.notify.base import SendContext, Sent
from gnomon.engine.notify.notice import Notice
from gnomon.engine.observe import EngineMetricsProtocol, NullMetrics
from gnomon.store.base import Store

log = logging.getLogger(__name__)

#: Deliveries read per pass; a full pass is followed by another at once.
BATCH = 100
#: Channels sent to at once.
MAX_SENDING_CHANNELS = 4


class Deliverer:
    """Delivers pending notifications from the store while `is_leader()`, in its own thread."""

    def __init__(
        self,
        store: Store,
        notifications: Notifications,
        *,
        is_leader: Callable[[], bool],
        clock: Callable[[], datetime],
        env: Mapping[str, str],
        poll_interval: float = 1.0,
        metrics: EngineMetricsProtocol | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or NullMetrics()
        self._notifications = notifications
        self._is_leader = is_leader
        self._clock = clock
        self._env = env
        self._poll = poll_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: SendContext | None = None  # made at the first send (imports httpx)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards _context and _resting (channel threads)
        #: Channels whose last attempt failed, and when they may be tried again.
        self._resting: dict[str, datetime] = {}

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="gnomon-notifier", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look for deliveries now (new events were written)."""
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the sends in flight (each bounded by its channel's timeout)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._context is not None:
            self._context.http.close()
            self._context = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                more = self.deliver_due()
            except Exception:  # the notifier thread must outlive any one failure
                log.exception("delivering notifications failed; trying again shortly")
                more = False
            if not more:
                self._wake.wait(self._poll)
                self._wake.clear()

    def deliver_due(self) -> bool:
        """One pass: send what is due (while this node leads). Whether more may be due at
        once (a full batch, every channel delivered)."""
        if not self._is_leader():
            self._metrics.set_delivery_queue(0)  # the leader's gauge tells the outbox's depth
            return False
        now = self._clock()
        with self._lock:
            resting = {channel for channel, until in self._resting.items() if until > now}
        self._metrics.set_delivery_queue(self._store.count_pending_deliveries())
        due = self._store.due_deliveries(now, BATCH, except_channels=resting)
        if not due:
            return False
        by_channel: dict[str, list[Delivery]] = {}
        for delivery in due:
            by_channel.setdefault(delivery.channel, []).append(delivery)
        if len(by_channel) == 1:
            delivered = [self._deliver_channel(next(iter(by_channel.values())))]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    MAX_SENDING_CHANNELS, thread_name_prefix="gnomon-notify"
                )
            futures = [self._pool.submit(self._deliver_channel, d) for d in by_channel.values()]
            delivered = [future.result() for future in futures]
        return len(due) == BATCH and all(delivered)

    def _deliver_channel(self, deliveries: list[Delivery]) -> bool:
        """Send one channel's due deliveries in order, until one fails (the channel then rests
        until that one is due again). Whether all were delivered."""
        for delivery in deliveries:
            if self._stopping.is_set() or not self._is_leader():
                return False
            after = self._deliver(delivery)
            with self._lock:
                if after.status is DeliveryStatus.DELIVERED:
                    self._resting.pop(delivery.channel, None)
                elif after.next_attempt_at is not None:
                    self._resting[delivery.channel] = after.next_attempt_at
            if after.status is not DeliveryStatus.DELIVERED:
                return False
        return True

    def _deliver(self, delivery: Delivery) -> Delivery:
        """Send one delivery and write back how it went; the delivery as written."""
        channel = self._notifications.channels.get(delivery.channel)
        started = time.monotonic()
        if channel is None:
            sent = _not_configured(delivery.channel)
        else:
            sent = self.send(self._notice(delivery), channel)
        now = self._clock()
        attempt = Attempt(
            at=now,
            status_code=sent.status_code,
            error=sent.error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        updated = _after(delivery, attempt, channel, now, sent.retry_after)
        self._store.update_delivery(updated)
        _log(updated, attempt)
        self._metrics.delivery_attempted(delivery.channel, _RESULTS[updated.status])
        return updated

    def send(self, notice: Notice, channel: Channel) -> Sent:
        """Send `notice` on `channel` once, now."""
        from gnomon.engine.notify.senders import new_context, send

        with self._lock:
            if self._context is None:
                self._context = new_context(self._env, self._notifications.smtp)
            context = self._context
        return send(notice, channel, context)

    def _notice(self, delivery: Delivery) -> Notice:
        run = self._store.find_run(delivery.run_id) if delivery.run_id else None
        job = self._store.find_job(delivery.job_id)
        return Notice(
            delivery_id=delivery.id,
            event=delivery.event,
            job_id=delivery.job_id,
            job_name=job.definition.name if job is not None else delivery.job_id,
            occurred_at=delivery.created_at,
            run_id=delivery.run_id,
            run=run,
            public_url=self._notifications.public_url,
        )


#: A send's result as gnomon_deliveries_total counts it, by the delivery's status after it.
_RESULTS = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.PENDING: "retrying",
    DeliveryStatus.FAILED: "given_up",
}

#: The retries of a delivery to a channel this node does not know (its configuration changed,
#: or differs between nodes): a channel's defaults, so it may come back within a day.
_UNKNOWN = Channel("", ChannelKind.WEBHOOK)


def _not_configured(channel: str) -> Sent:
    hours = _UNKNOWN.give_up_after / 3600
    return Sent(
        error=f"channel {channel!r} is not configured on this node; declare it in "
        f"[[notifications]] or the delivery is given up {hours:.0f} hours after its event"
    )


def _after(
    delivery: Delivery,
    attempt: Attempt,
    channel: Channel | None,
    now: datetime,
    retry_after: float | None,
) -> Delivery:
    """The delivery after `attempt`: delivered, due again later, or given up."""
    attempts = (*delivery.attempts, attempt)[-MAX_ATTEMPTS_KEPT:]
    count = delivery.attempt_count + 1
    done = replace(delivery, attempts=attempts, attempt_count=count)
    if attempt.ok:
        return replace(done, status=DeliveryStatus.DELIVERED, next_attempt_at=None, finished_at=now)
    policy = channel or _UNKNOWN
    deadline = delivery.created_at + timedelta(seconds=policy.give_up_after)
    if now >= deadline:
        return replace(done, status=DeliveryStatus.FAILED, next_attempt_at=None, finished_at=now)
    pause = min(policy.retry_backoff_max, policy.retry_backoff * 2 ** min(count - 1, 30))
    if retry_after is not None:
        pause = max(pause, retry_after)
    # The last try comes at the deadline, rather than a whole pause after it.
    return replace(done, next_attempt_at=min(now + timedelta(seconds=pause), deadline))


def _log(delivery: Delivery, attempt: Attempt) -> None:
    what = (
        f"notification {delivery.id} ({delivery.event.value} of job {delivery.job_id}"
        + (f", run {delivery.run_id}" if delivery.run_id else "")
        + f") to channel {delivery.channel}"
    )
    if delivery.status is DeliveryStatus.DELIVERED:
        log.info("%s delivered (attempt %d)", what, delivery.attempt_count)
    elif delivery.status is DeliveryStatus.FAILED:
        log.error(
            "%s given up after %d attempt(s); the last: %s",
            what,
            delivery.attempt_count,
            attempt.error,
        )
    else:
        log.warning(
            "%s failed (attempt %d): %s; next try at %s",
            what,
            delivery.attempt_count,
            attempt.error,
            delivery.next_attempt_at,
        )
