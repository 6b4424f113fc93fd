"""Security headers: nosniff on every answer, no-store on secrets, a strict policy on HTML."""

from __future__ import annotations

from flask import Response

#: The docs page and its files come from this server alone; its script builds the page with DOM
#: nodes only, which Trusted Types enforce (no HTML parsed from strings); nobody may frame it.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)


def add_nosniff(response: Response) -> Response:
    """after_request hook: no answer is ever read as another type than it says (JSON as HTML)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def no_store(response: Response) -> Response:
    """Keep an answer out of every cache: it holds a secret or a job's output."""
    response.headers["Cache-Control"] = "no-store"
    return response


def html_page(response: Response, policy: str) -> Response:
    """The headers of an HTML page of the API: its policy, no framing, same-origin referrers."""
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response
