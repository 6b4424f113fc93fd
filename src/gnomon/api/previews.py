"""Trigger previews: the next fire times of a job or of a trigger being edited (SPEC §5.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import VIEW, require
from gnomon.api.envelope import language, success
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import Query, body_int, object_body
from gnomon.api.state import state
from gnomon.errors import Problem, ValidationFailed
from gnomon.services.documents import iso
from gnomon.services.jobs import DETAIL_PREVIEW, MAX_PREVIEW
from gnomon.triggers import Trigger

bp = Blueprint("previews", __name__, url_prefix="/api/v1/scheduler")


def preview_document(trigger: Trigger, times: list[datetime]) -> dict[str, Any]:
    return {
        "next_run_times": [iso(t, trigger.timezone) for t in times],
        "description": trigger.describe(language()),
        "trigger": trigger.summary(),
        "timezone": trigger.timezone.key,
    }


@bp.get("/jobs/<job_id>/preview")
@document(s.PreviewEnvelope, errors=(400, 401, 404), query=s.CountQuery, tag="triggers")
@require(VIEW)
def preview_job(job_id: str) -> Response:
    """?count=1..100 (default 5) next fire times of the job's trigger. Raises JobNotFound."""
    query = Query()
    count = query.integer("count", DETAIL_PREVIEW, 1, MAX_PREVIEW)
    query.done()
    trigger, times = state().runtime.jobs.preview_job(job_id, count)
    return success(preview_document(trigger, times))


@bp.post("/triggers/preview")
@document(
    s.PreviewEnvelope, errors=(400, 401, 403), json=s.PreviewInput, security=WRITE, tag="triggers"
)
@require(VIEW)
def preview_trigger() -> Response:
    """A PUT body plus optional `count`: validated like PUT, nothing is changed.

    Raises ValidationFailed naming every bad field (count's and the trigger's together).
    """
    body = object_body()
    trigger_input = {key: value for key, value in body.items() if key != "count"}
    problems: list[Problem] = []
    try:
        count = body_int(body, "count", DETAIL_PREVIEW, 1, MAX_PREVIEW)
    except ValidationFailed as exc:
        problems += exc.problems
        count = DETAIL_PREVIEW
    runtime = state().runtime
    try:
        trigger, times = runtime.jobs.preview_trigger(
            trigger_input, count, default_timezone=runtime.config.settings.scheduler.timezone
        )
    except ValidationFailed as exc:
        raise ValidationFailed([*problems, *exc.problems], "invalid trigger") from None
    if problems:
        raise ValidationFailed(problems)
    return success(preview_document(trigger, times))
