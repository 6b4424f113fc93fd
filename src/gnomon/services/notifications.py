"""Notification use cases: read the outbox's deliveries, send a test event to a channel."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from gnomon.alerts import Attempt, DeliveryPage, DeliveryStatus, Notifications
from gnomon.domain import Event, utcnow
from gnomon.errors import ChannelNotFound, Problem, ValidationFailed
from gnomon.store.base import Store

MAX_PAGE = 500
#: The job a test notification names: no job has this id (ids are lowercase).
TEST_JOB_ID = "gnomon.test"


class NotificationService:
    """The deliveries of one store, and the channels this process's configuration declares."""

    def __init__(
        self,
        store: Store,
        notifications: Notifications,
        *,
        env: Mapping[str, str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.notifications = notifications
        self._env = env
        self._clock = clock

    def list_deliveries(
        self,
        job_id: str | None = None,
        channel: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """Deliveries newest first, filtered; raises ValidationFailed for limit or cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed([Problem("limit", f"must be between 1 and {MAX_PAGE}")])
        return self.store.list_deliveries(
            job_id=job_id, channel=channel, status=status, limit=limit, cursor=cursor
        )

    def send_test(self, channel_id: str) -> Attempt:
        """See send_test."""
        return send_test(self.notifications, channel_id, self._env, self._clock)


def send_test(
    notifications: Notifications,
    channel_id: str,
    env: Mapping[str, str],
    clock: Callable[[], datetime] = utcnow,
) -> Attempt:
    """Send a `test` event to the channel now, outside the outbox (nothing is stored: no store
    is needed), and say how it went. Raises ChannelNotFound."""
    from gnomon.engine.notify.notice import Notice
    from gnomon.engine.notify.senders import new_context, send

    channel = notifications.channels.get(channel_id)
    if channel is None:
        raise ChannelNotFound(channel_id)
    now = clock()
    notice = Notice(
        delivery_id=str(uuid.uuid4()),
        event=Event.TEST,
        job_id=TEST_JOB_ID,
        job_name="gnomon notify test",
        occurred_at=now,
        public_url=notifications.public_url,
    )
    context = new_context(env, notifications.smtp)
    started = time.monotonic()
    try:
        sent = send(notice, channel, context)
    finally:
        context.http.close()
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return Attempt(now, sent.status_code, sent.error, elapsed_ms)
