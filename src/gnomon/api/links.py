"""OpenAPI links: which value of an answer feeds which next request (a job from the list into
its detail, update and actions; a run from a page (of a job's runs or of all jobs') into its
detail and cancel, and into its job; a token into its revocation; a delivery into its run and
job; a job of the statistics into its detail; a page's cursor into the next page).

Clients and stateful API testers follow them to chain calls. Each operation's id is its view
function's name (see openapi.document).
"""

from __future__ import annotations

from typing import Any

#: The operations that take a job id in the path (besides reading the job itself).
_JOB_OPERATIONS = (
    "get_job",
    "update_job",
    "pause_job",
    "resume_job",
    "run_job",
    "list_runs",
    "preview_job",
)
_RUN_OPERATIONS = ("get_run", "cancel_run")


def _to(operations: tuple[str, ...], parameter: str, value: str) -> dict[str, dict[str, Any]]:
    """One link per operation, each passing `value` (a runtime expression) as `parameter`."""
    return {
        operation: {"operationId": operation, "parameters": {parameter: value}}
        for operation in operations
    }


def _jobs(value: str) -> dict[str, dict[str, Any]]:
    return _to(_JOB_OPERATIONS, "job_id", value)


def _runs(value: str) -> dict[str, dict[str, Any]]:
    return _to(_RUN_OPERATIONS, "run_id", value)


_JOB = "$response.body#/data/id"

#: operationId → status → the links of that answer.
LINKS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "list_jobs": {"200": _jobs("$response.body#/data/0/id")},
    "get_job": {"200": {**_jobs(_JOB), **_runs("$response.body#/data/recent_runs/0/id")}},
    "update_job": {"200": _jobs(_JOB)},
    "pause_job": {"200": _jobs(_JOB)},
    "resume_job": {"200": _jobs(_JOB)},
    "run_job": {"200": _runs("$response.body#/data/run_id")},
    "reload_jobs": {"200": _jobs("$response.body#/data/reloaded/0")},
    "list_runs": {
        "200": {
            **_runs("$response.body#/data/items/0/id"),
            "next_page": {
                "operationId": "list_runs",
                "parameters": {
                    "path.job_id": "$request.path.job_id",
                    "query.cursor": "$response.body#/data/next_cursor",
                },
                "description": "The next page, older runs (send the same filters).",
            },
        }
    },
    "list_all_runs": {
        "200": {
            **_runs("$response.body#/data/items/0/id"),
            **_jobs("$response.body#/data/items/0/job_id"),
            "next_page": {
                "operationId": "list_all_runs",
                "parameters": {"query.cursor": "$response.body#/data/next_cursor"},
                "description": "The next page, older runs (send the same filters).",
            },
        }
    },
    "get_stats": {"200": _jobs("$response.body#/data/durations/0/job_id")},
    "get_run": {
        "200": {**_runs("$response.body#/data/id"), **_jobs("$response.body#/data/job_id")}
    },
    "cancel_run": {"200": _runs("$response.body#/data/id")},
    "create_token": {"201": _to(("revoke_token",), "token_id", "$response.body#/data/id")},
    "list_tokens": {"200": _to(("revoke_token",), "token_id", "$response.body#/data/0/id")},
    "revoke_token": {"200": _to(("revoke_token",), "token_id", "$response.body#/data/id")},
    "me": {"200": _to(("end_sessions",), "username", "$response.body#/data/username")},
    "list_deliveries": {
        "200": {
            **_runs("$response.body#/data/items/0/run_id"),
            **_jobs("$response.body#/data/items/0/job_id"),
            "next_page": {
                "operationId": "list_deliveries",
                "parameters": {"query.cursor": "$response.body#/data/next_cursor"},
                "description": "The next page, older deliveries (send the same filters).",
            },
        }
    },
    "list_audit": {
        "200": {
            "next_page": {
                "operationId": "list_audit",
                "parameters": {"query.before_id": "$response.body#/data/next_before_id"},
                "description": "The next page, older entries.",
            }
        }
    },
}


def add_links(doc: dict[str, Any]) -> None:
    """Write LINKS into the answers of `doc`'s operations. Raises KeyError when a link names
    an operation or answer the document lacks: a renamed view cannot leave a dangling link."""
    operations = {
        operation["operationId"]: operation
        for path in doc["paths"].values()
        for operation in path.values()
    }
    targets = {
        link["operationId"]
        for answers in LINKS.values()
        for links in answers.values()
        for link in links.values()
    }
    if missing := targets - set(operations):
        raise KeyError(f"links name operations the document lacks: {sorted(missing)}")
    for source, answers in LINKS.items():
        for status, links in answers.items():
            operations[source]["responses"][status]["links"] = links
