"""Run history endpoints: a job's runs, the runs of every job, one run with its output,
cancelling a run (SPEC §5.4)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, Response

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, VIEW, actor, require
from gnomon.api.envelope import success
from gnomon.api.headers import no_store
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import Query, no_body
from gnomon.api.state import state
from gnomon.domain import RunStatus, TriggerSource
from gnomon.services.documents import run_document
from gnomon.services.runs import MAX_PAGE

bp = Blueprint("runs", __name__, url_prefix="/api/v1/scheduler")

DEFAULT_PAGE = 50


def _job_timezone(job_id: str) -> ZoneInfo | None:
    """The timezone run times are shown in: the job's, or UTC once the job is gone."""
    return state().runtime.runs.job_timezone(job_id)


@bp.get("/jobs/<job_id>/runs")
@document(s.RunPageEnvelope, errors=(400, 401, 404), query=s.RunQuery, tag="runs")
@require(VIEW)
def list_runs(job_id: str) -> Response:
    """Newest first: ?status=&trigger_source=&limit=1..500&cursor= → {items, next_cursor}.

    Raises JobNotFound, ValidationFailed (per query parameter).
    """
    query = Query()
    status = query.choice("status", RunStatus)
    source = query.choice("trigger_source", TriggerSource)
    limit = query.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = query.text("cursor")
    query.done()
    page = state().runtime.runs.list_runs(
        job_id, status=status, trigger_source=source, limit=limit, cursor=cursor
    )
    tz = _job_timezone(job_id)
    return success(
        {
            "items": [run_document(run, tz) for run in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@bp.get("/runs")
@document(s.RunPageEnvelope, errors=(400, 401), query=s.AllRunsQuery, tag="runs")
@require(VIEW)
def list_all_runs() -> Response:
    """Runs of every job, newest first, filtered → {items, next_cursor}.

    ?job_id=&status=&trigger_source=&node=&since=&until=&limit=1..500&cursor=. `status` may
    be repeated or comma-separated; `since` (inclusive) and `until` (exclusive) bound the time
    each run was queued. Raises ValidationFailed (per query parameter).
    """
    query = Query()
    job_id = query.text("job_id", max_length=64)
    statuses = query.choices("status", RunStatus)
    source = query.choice("trigger_source", TriggerSource)
    node = query.text("node", max_length=255)
    since = query.instant("since")
    until = query.instant("until")
    limit = query.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = query.text("cursor")
    query.done()
    runs = state().runtime.runs
    page = runs.list_all_runs(
        job_id=job_id,
        statuses=statuses,
        trigger_source=source,
        node=node,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    zones = runs.job_timezones(run.job_id for run in page.items)
    return success(
        {
            "items": [run_document(run, zones[run.job_id]) for run in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@bp.get("/runs/<run_id>")
@document(s.RunEnvelope, errors=(401, 404), tag="runs")
@require(VIEW)
def get_run(run_id: str) -> Response:
    """One run with its output and traceback. Raises RunNotFound."""
    run = state().runtime.runs.get_run(run_id)
    return no_store(success(run_document(run, _job_timezone(run.job_id), with_output=True)))


@bp.post("/runs/<run_id>/actions/cancel")
@document(s.RunEnvelope, errors=(401, 403, 404, 409), security=WRITE, tag="runs")
@require(ADMIN)
def cancel_run(run_id: str) -> Response:
    """Ask a queued or running run to stop. Raises RunNotFound, RunNotCancellable."""
    no_body()
    run = state().runtime.runs.cancel_run(run_id, actor())
    document = run_document(run, _job_timezone(run.job_id), with_output=True)
    return no_store(success(document, "run_cancel_requested"))
