"""Console pages: each route renders a shell; the page's ES module fills it from the JSON API.

The views hold no data and check no login: the scripts ask the API, which enforces access, and
send the browser to the login page on a 401. So the console can do nothing the API does not allow.
The administration pages are refused on the server as well (login page without a session, 403
for a viewer): a viewer gets not even their empty shells.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for

from gnomon.api.access import ADMIN, current_account
from gnomon.api.errors import TokenInvalid
from gnomon.domain import RunStatus, User
from gnomon.services.audit import AUDIT_ACTIONS

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

# Everything is served from this origin: no inline script, no CDN, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _page(template: str, **context: object) -> Response:
    response = Response(render_template(template, **context))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for browsers without CSP 2
    response.headers["Referrer-Policy"] = "same-origin"
    # Shells are tiny and must follow a redeploy's scripts at once.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def overview_page() -> Response:
    """The home page: counts, charts, runs going on and gone wrong, next fires, the scheduler.

    The jobs table lived here before: its filters (?state=, ?q=) lead to it still.
    """
    if "state" in request.args or "q" in request.args:
        query = urlencode(list(request.args.items(multi=True)))
        return redirect(f"{url_for('console.jobs_page')}?{query}")  # type: ignore[return-value]
    return _page("overview.html", page="overview")


@bp.get("/jobs")
def jobs_page() -> Response:
    """The jobs table."""
    return _page("jobs.html", page="jobs")


@bp.get("/login")
def login_page() -> Response:
    """The login form."""
    return _page("login.html", page="login")


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> Response:
    """One job: details, trigger editor, actions and run history."""
    return _page("job.html", page="job", job_id=job_id)


@bp.get("/runs")
def runs_page() -> Response:
    """Runs of every job, filtered and paged; the filters and the page live in the URL."""
    return _page("runs.html", page="runs", statuses=[status.value for status in RunStatus])


@bp.get("/runs/<run_id>")
def run_page(run_id: str) -> Response:
    """One run with its output, refreshed while it runs."""
    return _page("run.html", page="run", run_id=run_id)


def _admin_page(template: str, **context: object) -> Response:
    """The page for admins; the login page without a session, 403 for anyone else."""
    try:
        user: User | None = current_account()
    except TokenInvalid:
        user = None
    if user is None:
        # The query string is raw bytes a client chose: undecodable ones are replaced, not a 500.
        query = request.query_string.decode("utf-8", "replace")
        here = request.path + (f"?{query}" if query else "")
        target = f"{url_for('console.login_page')}?{urlencode({'next': here})}"
        return redirect(target)  # type: ignore[return-value]
    if ADMIN not in user.permissions:
        response = _page("forbidden.html", page="forbidden")
        response.status_code = 403
        return response
    return _page(template, **context)


@bp.get("/admin/users")
def users_page() -> Response:
    """Users: create, change role, disable or enable, set a password, end sessions (admins)."""
    return _admin_page("users.html", page="users", roles=["viewer", "admin"])


@bp.get("/admin/tokens")
def tokens_page() -> Response:
    """API tokens: create (the secret shown once), revoke, when last used (admins)."""
    return _admin_page("tokens.html", page="tokens")


@bp.get("/admin/audit")
def audit_page() -> Response:
    """The audit log, filtered and paged; the filters and the page live in the URL (admins)."""
    return _admin_page("audit.html", page="audit", actions=AUDIT_ACTIONS)
