"""What a channel is told: one event about one run, as the webhook's JSON body and as words.

The webhook body (version 1) is documented in the README, "Alerts and notifications":
`version`, `delivery_id`, `event`, `occurred_at`, `job` {id, name}, `run` {id, status,
trigger_source, attempt, retry_of, scheduled_for, started_at, finished_at, duration_ms,
exit_code, reason, node}
(null for an event about no run), `error` (one line: type and message, or null),
`output_tail` (the last 2 KiB of the run's output, or null) and `console_url` (or null).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gnomon.domain import Event, Run

#: The most of a run's output a notification carries: its end, where failures usually are.
OUTPUT_TAIL_BYTES = 2048
#: The most of an error message a notification carries.
ERROR_CHARS = 500
VERSION = 1

_HEADLINES = {
    Event.FAILED: "failed",
    Event.TIMED_OUT: "timed out",
    Event.MISSED: "missed its fire time",
    Event.INTERRUPTED: "was interrupted",
    Event.RECOVERED: "recovered",
    Event.OVERDUE: "is overdue",
    Event.TEST: "test notification",
}


@dataclass(frozen=True)
class Notice:
    """One event about a run of a job (`run` None: the run is gone, or there is none)."""

    delivery_id: str
    event: Event
    job_id: str
    job_name: str
    occurred_at: datetime
    run_id: str | None = None
    run: Run | None = None
    #: The console's address (`[server] public_url`), for a link to the run.
    public_url: str | None = None

    @property
    def console_url(self) -> str | None:
        if self.public_url is None:
            return None
        if self.run_id is None:
            return f"{self.public_url}/jobs/{self.job_id}"
        return f"{self.public_url}/runs/{self.run_id}"

    @property
    def error(self) -> str | None:
        """The run's error as one short line: type and message."""
        run = self.run
        if run is None or not (run.error_type or run.error_message):
            return None
        message = " ".join((run.error_message or "").split())
        if len(message) > ERROR_CHARS:
            message = message[: ERROR_CHARS - 1] + "…"
        if run.error_type and not message.startswith(run.error_type):
            return f"{run.error_type}: {message}" if message else run.error_type
        return message

    @property
    def output_tail(self) -> str | None:
        output = self.run.output if self.run is not None else None
        if not output:
            return None
        data = output.encode("utf-8")
        if len(data) <= OUTPUT_TAIL_BYTES:
            return output
        # Cut at a character boundary: continuation bytes of UTF-8 are 0b10xxxxxx.
        tail = data[-OUTPUT_TAIL_BYTES:]
        start = next((i for i, byte in enumerate(tail) if byte & 0xC0 != 0x80), len(tail))
        return tail[start:].decode("utf-8")

    def headline(self) -> str:
        """One line for people: "gnomon: Nightly backup (backup) failed"."""
        what = _HEADLINES[self.event]
        if self.event is Event.TEST:
            return f"gnomon: {what}"
        name = self.job_name if self.job_name == self.job_id else f"{self.job_name} ({self.job_id})"
        return f"gnomon: {name} {what}"

    def facts(self) -> list[tuple[str, str]]:
        """The run's facts as (label, text) pairs, for Slack and email."""
        run = self.run
        facts: list[tuple[str, str]] = [("Event", self.event.value), ("Job", self.job_id)]
        if self.run_id is not None:
            facts.append(("Run", self.run_id))
        if run is not None:
            facts.append(("Status", run.status.value))
            if run.attempt > 1:
                facts.append(("Attempt", str(run.attempt)))
            for label, value in (
                ("Scheduled for", run.scheduled_for),
                ("Started", run.started_at),
                ("Finished", run.finished_at),
            ):
                if value is not None:
                    facts.append((label, _iso(value) or ""))
            if run.exit_code is not None:
                facts.append(("Exit code", str(run.exit_code)))
            if run.reason:
                facts.append(("Reason", run.reason))
        error = self.error
        if error:
            facts.append(("Error", error))
        return facts

    def document(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        run = self.run
        run_doc: dict[str, Any] | None = None
        if self.run_id is not None:
            run_doc = {"id": self.run_id}
            if run is not None:
                run_doc.update(
                    status=run.status.value,
                    trigger_source=run.trigger_source.value,
                    attempt=run.attempt,
                    retry_of=run.retry_of,
                    scheduled_for=_iso(run.scheduled_for),
                    started_at=_iso(run.started_at),
                    finished_at=_iso(run.finished_at),
                    duration_ms=run.duration_ms,
                    exit_code=run.exit_code,
                    reason=run.reason,
                    node=run.node,
                )
        return {
            "version": VERSION,
            "delivery_id": self.delivery_id,
            "event": self.event.value,
            "occurred_at": _iso(self.occurred_at),
            "job": {"id": self.job_id, "name": self.job_name},
            "run": run_doc,
            "error": self.error,
            "output_tail": self.output_tail,
            "console_url": self.console_url,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
