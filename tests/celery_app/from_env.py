"""The sample app as a worker process started by a test sees it (`celery -A
tests.celery_app.from_env worker`): its broker and queue from SAMPLE_BROKER and SAMPLE_QUEUE,
no result backend, and a task-sent event for each task it sends itself (a retry) when
SAMPLE_SENT_EVENTS is set."""

from __future__ import annotations

import os

from tests.celery_app.sample import create_app

app = create_app(os.environ["SAMPLE_BROKER"], None, os.environ["SAMPLE_QUEUE"])
app.conf.task_send_sent_event = bool(os.environ.get("SAMPLE_SENT_EVENTS"))
