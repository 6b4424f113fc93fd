"""The sample app: `create_app(broker, backend)` for a worker of one test; `app`, importable as
tests.celery_app.sample:app, with a beat_schedule of every kind of entry gnomon converts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, solar


def add(x: int, y: int) -> int:
    return x + y


def report(day: str, *, pages: int = 1) -> dict[str, Any]:
    return {"day": day, "pages": pages}


def fail(message: str) -> None:
    raise ValueError(message)


def flaky(self: Any, times: int) -> str:
    """Retried by Celery `times` times before it succeeds."""
    if self.request.retries < times:
        raise self.retry(exc=RuntimeError("not yet"), countdown=0.8)
    return f"ok after {times} retries"


def create_app(broker: str, backend: str | None, queue: str = "celery") -> Celery:
    """The app, its workers taking tasks from `queue`; results extended (they then carry the
    retry count)."""
    app = Celery("sample", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        result_extended=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    app.task(name="sample.add")(add)
    app.task(name="sample.report")(report)
    app.task(name="sample.fail")(fail)
    app.task(name="sample.flaky", bind=True, max_retries=5)(flaky)
    return app


app = create_app("memory://", None)
app.conf.timezone = "Europe/Paris"
app.conf.beat_schedule = {
    "nightly report": {
        "task": "sample.report",
        "schedule": crontab(minute=30, hour=2, day_of_week="mon-fri"),
        "args": ["monday"],
        "kwargs": {"pages": 3},
        "options": {"queue": "reports", "routing_key": "reports.nightly"},
    },
    "add-every-10s": {"task": "sample.add", "schedule": 10.0, "args": (1, 2)},
    "add-every-90m": {"task": "sample.add", "schedule": timedelta(minutes=90), "args": (3, 4)},
    "monthly": {
        "task": "sample.report",
        "schedule": crontab(minute=0, hour=6, day_of_month="1", month_of_year="*/3"),
        "args": ["first"],
    },
}


def _solar(event: str, lat: float, lon: float) -> solar:
    """A solar schedule, made without the ephem library its constructor needs: only its kind
    matters to the converter."""
    schedule = solar.__new__(solar)
    schedule.event, schedule.lat, schedule.lon = event, lat, lon
    return schedule


#: A schedule gnomon cannot convert (solar events).
solar_app = create_app("memory://", None)
solar_app.conf.beat_schedule = {
    "at dawn": {"task": "sample.add", "schedule": _solar("dawn_astronomical", 48.85, 2.35)},
}
