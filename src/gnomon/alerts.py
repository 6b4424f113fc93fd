"""Notifications: which events a run's outcome raises (one rule), the channels told about them,
and the deliveries of the durable outbox. Value objects only; no IO.

A run's final status is written by the store together with the events it raises (the outbox
rows, `deliveries`), in one transaction; the leader then delivers them at least once. Every
path that ends a run asks `events_for`, so "which outcome alerts whom" is decided here only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gnomon.domain import Event, Route, RunStatus

#: Final statuses that are failures, and the event each raises.
FAILURE_EVENTS: Mapping[RunStatus, Event] = {
    RunStatus.FAILED: Event.FAILED,
    RunStatus.TIMED_OUT: Event.TIMED_OUT,
    RunStatus.MISSED: Event.MISSED,
    RunStatus.INTERRUPTED: Event.INTERRUPTED,
}
#: The statuses that tell how a job is doing: its "previous outcome" is its newest earlier run in
#: one of them. Skipped and cancelled runs say nothing about it and are looked past.
OUTCOMES = frozenset({RunStatus.SUCCEEDED, *FAILURE_EVENTS})
#: What a channel is told about unless its `on` says otherwise: everything it can be told.
DEFAULT_EVENTS = frozenset(
    {
        Event.FAILED,
        Event.TIMED_OUT,
        Event.MISSED,
        Event.INTERRUPTED,
        Event.RECOVERED,
        Event.OVERDUE,
    }
)
# `overdue` (a job with no success within `alert_if_no_success_within`) is raised by a timer on
# the leader (Store.raise_overdue), as a delivery about no run, once per spell without success.


def needs_previous(status: RunStatus, routes: Iterable[Route]) -> bool:
    """Whether events_for needs the job's previous outcome to decide: only for a success that
    some channel would hear `recovered` about (the store then looks it up)."""
    return status is RunStatus.SUCCEEDED and any(Event.RECOVERED in r.events for r in routes)


def events_for(
    status: RunStatus,
    routes: Iterable[Route],
    previous: RunStatus | None = None,
    *,
    retrying: bool = False,
    overdue: bool = False,
) -> list[tuple[str, Event]]:
    """The (channel, event) pairs a run that has just ended with `status` raises: a failure
    raises its own event (failed, timed_out, missed, interrupted) unless it is `retrying` (a
    retry of it was queued: only the outcome after the last attempt counts); a success raises
    `recovered` when the job's previous outcome after retries (`previous`, see OUTCOMES) was a
    failure, or when the job was told `overdue` since its previous success (`overdue`);
    nothing else raises anything. Each channel hears the events its route lists.

    The one place deciding this (`overdue` itself is raised by a timer: Store.raise_overdue).
    """
    if retrying:
        return []
    event = FAILURE_EVENTS.get(status)
    if event is None:
        if status is not RunStatus.SUCCEEDED or not (overdue or previous in FAILURE_EVENTS):
            return []
        event = Event.RECOVERED
    return [(route.channel, event) for route in routes if event in route.events]


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


@dataclass(frozen=True)
class Channel:
    """A notification channel as configured. `url`, `secret` and the SMTP password may hold
    secret references (``${env:NAME}``), resolved only when a message is sent."""

    id: str
    kind: ChannelKind
    events: frozenset[Event] = DEFAULT_EVENTS
    url: str | None = None  # webhook, slack
    secret: str | None = None  # webhook: the HMAC-SHA256 key of X-Gnomon-Signature
    to: tuple[str, ...] = ()  # email
    timeout: float = 10.0  # seconds, per attempt
    #: A delivery still failing this long after its event is given up (marked failed).
    give_up_after: float = 86400.0
    #: The pause before the first retry, doubling with every failed attempt up to the longest.
    retry_backoff: float = 10.0
    retry_backoff_max: float = 600.0

    def route(self) -> Route:
        return Route(self.id, self.events)


@dataclass(frozen=True)
class SmtpServer:
    """Where email notifications are sent from (`[smtp]`)."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None  # may hold a secret reference
    timeout: float = 10.0


@dataclass(frozen=True)
class Notifications:
    """Everything a node needs to deliver notifications."""

    channels: Mapping[str, Channel]
    smtp: SmtpServer | None = None
    #: The console's address as people reach it (`[server] public_url`), for links to runs.
    public_url: str | None = None


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # given up


@dataclass(frozen=True)
class Attempt:
    """One try at delivering: when, and what came back (an HTTP status, or an error)."""

    at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Delivery:
    """One event for one channel, in the outbox until delivered or given up. Its id is sent
    with every attempt (X-Gnomon-Delivery), so receivers can drop repeats."""

    id: str
    channel: str
    event: Event
    job_id: str
    run_id: str | None  # None for events not about one run (overdue)
    status: DeliveryStatus
    created_at: datetime
    next_attempt_at: datetime | None = None  # None once delivered or given up
    finished_at: datetime | None = None
    attempts: tuple[Attempt, ...] = ()  # the newest MAX_ATTEMPTS_KEPT of them
    attempt_count: int = 0


#: Attempts a delivery keeps the record of (the newest); attempt_count counts them all.
MAX_ATTEMPTS_KEPT = 50


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None
