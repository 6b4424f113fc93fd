"""The seven contract endpoints of /api/v1/scheduler (SPEC §5.3, seed: Endpoints 总览).

Each one checks access, then that a scheduler is live for this store (409 otherwise), then asks
the job service; handlers only translate between HTTP and the service.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from gnomon.api import schemas as s
from gnomon.api.access import ADMIN, VIEW, actor, current_account, require
from gnomon.api.envelope import language, success
from gnomon.api.jsonprovider import OrjsonProvider
from gnomon.api.openapi import WRITE, document
from gnomon.api.params import no_body, object_body
from gnomon.api.state import state
from gnomon.services.jobs import JobService
from gnomon.services.views import JobView, ReloadResult

bp = Blueprint("scheduler", __name__, url_prefix="/api/v1/scheduler")


def _jobs() -> JobService:
    """The job service, once a live scheduler is confirmed; raises SchedulerNotRunning."""
    jobs = state().runtime.jobs
    jobs.require_scheduler()
    return jobs


def _reveal() -> bool:
    """Whether this request's user sees job kwargs as declared: admins do; a viewer sees their
    keys, and their values only when the job declares them public."""
    user = current_account()
    return user is not None and ADMIN in user.permissions


def _job_answer(changed: JobView, message: str) -> Response:
    """The job object after a change: the job as the change left it, with its runs read
    afresh (running count, recent runs)."""
    st = state()
    view = st.runtime.jobs.detail(changed.record)
    return success(st.documents.document(view, language(), detail=True, reveal=_reveal()), message)


@bp.get("/jobs")
@document(s.JobListEnvelope, errors=(401, 409))
@require(VIEW)
def list_jobs() -> Response:
    """Every job, sorted by id."""
    return success(_job_list(_jobs().job_listing(), language(), _reveal()))


def _job_list(listing: tuple[JobView, ...], lang: str, reveal: bool) -> Any:
    """The listing's documents, encoded; kept per language and audience while the service hands
    out the same listing (it does until a job, its next fire time or its runs change)."""
    st = state()
    kept = st.job_lists.get((lang, reveal))
    if kept is not None and kept[0] is listing:
        return kept[1]
    provider = current_app.json
    assert isinstance(provider, OrjsonProvider)
    documents = [st.documents.document(view, lang, reveal=reveal) for view in listing]
    encoded = provider.fragment(documents)
    st.job_lists[(lang, reveal)] = (listing, encoded)
    return encoded


@bp.get("/jobs/<job_id>")
@document(s.JobEnvelope, errors=(401, 404, 409))
@require(VIEW)
def get_job(job_id: str) -> Response:
    """One job with its next fire times and recent runs. Raises JobNotFound."""
    view = _jobs().get_job(job_id)
    return success(state().documents.document(view, language(), detail=True, reveal=_reveal()))


@bp.put("/jobs/<job_id>")
@document(s.JobEnvelope, errors=(400, 401, 403, 404, 409), json=s.TriggerInput, security=WRITE)
@require(ADMIN)
def update_job(job_id: str) -> Response:
    """Change a builtin job's trigger. Raises JobNotFound, JobNotEditable, ValidationFailed."""
    jobs = _jobs()
    body = object_body()
    return _job_answer(jobs.update_trigger(job_id, body, actor()), "job_updated")


@bp.post("/jobs/<job_id>/actions/pause")
@document(s.JobEnvelope, errors=(401, 403, 404, 409), security=WRITE)
@require(ADMIN)
def pause_job(job_id: str) -> Response:
    """Pause (idempotent). Raises JobNotFound."""
    jobs = _jobs()
    no_body()
    return _job_answer(jobs.pause(job_id, actor()), "job_paused")


@bp.post("/jobs/<job_id>/actions/resume")
@document(s.JobEnvelope, errors=(401, 403, 404, 409), security=WRITE)
@require(ADMIN)
def resume_job(job_id: str) -> Response:
    """Resume (idempotent). Raises JobNotFound, JobHasNoNextRun."""
    jobs = _jobs()
    no_body()
    return _job_answer(jobs.resume(job_id, actor()), "job_resumed")


@bp.post("/jobs/<job_id>/actions/run")
@document(s.ManualRunEnvelope, errors=(401, 403, 404, 409), security=WRITE)
@require(ADMIN)
def run_job(job_id: str) -> Response:
    """Start a manual run in the background. Raises JobNotFound, JobAlreadyRunning."""
    jobs = _jobs()
    no_body()
    run = jobs.run_now(job_id, actor())
    return success({"manual_job_id": run.manual_job_id, "run_id": run.id}, "job_started")


@bp.post("/jobs/actions/reload")
@document(s.ReloadEnvelope, errors=(400, 401, 403, 409), security=WRITE)
@require(ADMIN)
def reload_jobs() -> Response:
    """Re-register every job from the configuration. Raises ConfigInvalid (nothing changed)."""
    jobs = _jobs()
    no_body()
    return success(reload_document(jobs.reload(actor())), "jobs_reloaded")


def reload_document(result: ReloadResult) -> dict[str, object]:
    return {
        "deleted": result.deleted,
        "reloaded": result.reloaded,
        "deleted_count": len(result.deleted),
        "reloaded_count": len(result.reloaded),
        "added": result.added,
        "removed": result.removed,
        "changed": result.changed,
    }
