"""The OpenAPI 3.1 document, generated from the routes with spectree, and the docs page.

Handlers keep validating their own input (so errors stay the envelope of SPEC §5.1), hence
`skip_validation=True`: spectree only reads the routes and the pydantic models of
`api.schemas` to write the document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response
from pydantic import BaseModel
from spectree import Response as Responses
from spectree import SpecTree

from gnomon import __version__
from gnomon.api.docs_page import DOCS_CSS, DOCS_PAGE, DOCS_SCRIPT
from gnomon.api.errors import ERROR_TABLE, HTTP_TABLE, INTERNAL
from gnomon.api.headers import DOCS_POLICY, html_page
from gnomon.api.links import add_links
from gnomon.api.schemas import ErrorEnvelope
from gnomon.api.state import state

F = TypeVar("F", bound=Callable[..., Any])

Security = list[dict[str, list[str]]]

PUBLIC: Security = []
READ: Security = [{"session": []}, {"bearer": []}]
WRITE: Security = [{"session": [], "csrf": []}, {"bearer": []}]
CSRF_ONLY: Security = [{"csrf": []}]

SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "gnomon_session"},
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "From GET /api/v1/auth/csrf-token; every session write needs it.",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token."},
}

spec = SpecTree(
    "flask",
    mode="strict",
    annotations=False,
    path="_openapi",  # spectree's own routes are never registered; see openapi_json below
    title="gnomon API",
    version=__version__,
    description="Jobs, runs, triggers, users' tokens and the audit trail of a gnomon scheduler.",
    validation_error_status=400,
    validation_error_model=ErrorEnvelope,
    # Plain model names: they are unique in api.schemas, and clients see them.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

#: The GET operations whose answer (200) is not JSON, and what it is.
NOT_JSON = {
    "/metrics": "text/plain",
    "/api/v1/scheduler/stats/runs-per-hour.svg": "image/svg+xml",
    "/api/v1/scheduler/stats/durations.svg": "image/svg+xml",
    "/api/v1/scheduler/jobs/{job_id}/durations.svg": "image/svg+xml",
}


def document(
    ok: type[BaseModel] | None,
    *,
    status: int = 200,
    errors: tuple[int, ...] = (),
    json: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    security: Security | None = None,
    tag: str = "scheduler",
) -> Callable[[F], F]:
    """Describe a view in the document: its answer, the errors it documents by name, its body
    and query models and who may call it (default: a session or a token). The operation's id
    is the view's name, which links (api.links) refer to."""
    codes: dict[str, Any] = {f"HTTP_{status}": ok}
    codes.update({f"HTTP_{code}": ErrorEnvelope for code in errors})

    def decorate(view: F) -> F:
        describe = spec.validate(
            json=json,
            query=query,
            resp=Responses(**codes),
            tags=(tag,),
            security=security if security is not None else READ,
            skip_validation=True,
            operation_id=view.__name__,
        )
        return cast(F, describe(view))

    return decorate


def build_document() -> dict[str, Any]:
    """The document for the current app: spectree's output plus what every operation shares
    (a `default` error answer, so every status the error table can produce is described)."""
    found = state().openapi
    if found is not None:
        return found
    doc: dict[str, Any] = copy.deepcopy(spec.spec)
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"]["default"] = {
                "description": "Any error: the error envelope (SPEC §5.1).",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
                },
            }
            if not operation.get("security"):
                operation["security"] = []
    for path, media_type in NOT_JSON.items():
        doc["paths"][path]["get"]["responses"]["200"]["content"] = {
            media_type: {"schema": {"type": "string"}}
        }
    add_links(doc)
    doc["servers"] = [{"url": "/"}]
    doc["info"]["description"] += "\n\nError `message_code`s, by status:\n\n" + _code_table()
    state().openapi = doc
    return doc


def _code_table() -> str:
    rows = {(row.status, row.code) for row in (*ERROR_TABLE.values(), *HTTP_TABLE.values())}
    rows.add((INTERNAL.status, INTERNAL.code))
    return "\n".join(f"- {status} `{code}`" for status, code in sorted(rows))


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document (no login needed)."""
    return Response(json.dumps(build_document(), ensure_ascii=False), mimetype="application/json")


@bp.get("/docs")
def docs() -> Response:
    """Interactive docs: a self-contained page (no CDN) that reads /api/v1/openapi.json."""
    return html_page(Response(DOCS_PAGE, mimetype="text/html"), DOCS_POLICY)


@bp.get("/docs.js")
def docs_script() -> Response:
    """The docs page's script (served apart: the page's policy allows no inline script)."""
    return Response(DOCS_SCRIPT, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@bp.get("/docs.css")
def docs_stylesheet() -> Response:
    """The docs page's stylesheet."""
    return Response(DOCS_CSS, mimetype="text/css", headers={"Cache-Control": "no-cache"})
